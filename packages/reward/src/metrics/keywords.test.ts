import { labelsToSequence, misalignedWords, promptWords, sequenceToLabels } from '../rahf/keywords';
import { keywordPRF, keywordPRFFromLabels } from './keywords';

describe('keywordPRF (words)', () => {
  test('micro-averages over samples: tp 2, fp 1, fn 1 → 2/3 each', () => {
    const r = keywordPRF([['cat', 'dog'], ['red']], [['cat'], ['red', 'blue']]);
    expect(r).toMatchObject({ tp: 2, fp: 1, fn: 1 });
    expect(r.precision).toBeCloseTo(2 / 3, 15);
    expect(r.recall).toBeCloseTo(2 / 3, 15);
    expect(r.f1).toBeCloseTo(2 / 3, 15);
  });

  test('micro, not macro: a big sample weighs more than a small one', () => {
    // Sample 0: 1/1 correct; sample 1: 1 of 4 predictions correct. Micro precision = 2/5 (macro would be 5/8).
    const r = keywordPRF([['a'], ['b', 'c', 'd', 'e']], [['a'], ['b']]);
    expect(r.precision).toBeCloseTo(2 / 5, 15);
    expect(r.recall).toBe(1);
    expect(r.f1).toBeCloseTo((2 * 2) / (2 * 2 + 3 + 0), 15);
  });

  test('words are multisets within a sample and matched exactly', () => {
    expect(keywordPRF([['cat', 'cat']], [['cat']])).toMatchObject({ tp: 1, fp: 1, fn: 0 });
    expect(keywordPRF([['cat']], [['cat', 'cat']])).toMatchObject({ tp: 1, fp: 0, fn: 1 });
    expect(keywordPRF([['Cat']], [['cat']])).toMatchObject({ tp: 0, fp: 1, fn: 1 });
    // A word predicted for the wrong sample does not count.
    expect(keywordPRF([['cat'], []], [[], ['cat']])).toMatchObject({ tp: 0, fp: 1, fn: 1, precision: 0, recall: 0, f1: 0 });
  });

  test('zero division gives 0 (sklearn zero_division=0), counts tell the cases apart', () => {
    expect(keywordPRF([[], []], [['cat'], []])).toEqual({ precision: 0, recall: 0, f1: 0, tp: 0, fp: 0, fn: 1 });
    expect(keywordPRF([['cat']], [[]])).toEqual({ precision: 0, recall: 0, f1: 0, tp: 0, fp: 1, fn: 0 });
    expect(keywordPRF([[]], [[]])).toEqual({ precision: 0, recall: 0, f1: 0, tp: 0, fp: 0, fn: 0 });
    expect(keywordPRF([], [])).toEqual({ precision: 0, recall: 0, f1: 0, tp: 0, fp: 0, fn: 0 });
  });

  test('perfect prediction scores 1', () => {
    expect(keywordPRF([['x', 'y'], ['z']], [['y', 'x'], ['z']])).toEqual({ precision: 1, recall: 1, f1: 1, tp: 3, fp: 0, fn: 0 });
  });

  test('sample-count mismatch throws', () => {
    expect(() => keywordPRF([[]], [])).toThrow(/metrics\/keywords: keywordPRF: 1 predicted samples but 0 ground-truth samples/);
  });
});

describe('keywordPRFFromLabels (positions, 0 = misaligned)', () => {
  test('hand case: tp 1, fp 1, fn 1', () => {
    const r = keywordPRFFromLabels([[1, 0, 0], [1, 1]], [[1, 0, 1], [0, 1]]);
    expect(r).toMatchObject({ tp: 1, fp: 1, fn: 1 });
    expect(r.f1).toBeCloseTo(0.5, 15);
  });

  test('positions matter: the same word at another position is a miss', () => {
    // "a cat and a dog": GT marks the second "a", prediction the first.
    expect(keywordPRFFromLabels([[0, 1, 1, 1, 1]], [[1, 1, 1, 0, 1]])).toMatchObject({ tp: 0, fp: 1, fn: 1 });
    expect(keywordPRF([['a']], [['a']])).toMatchObject({ tp: 1 }); // the word form cannot see this
  });

  test('agrees with the word form on prompts without repeated words, via decoded sequences', () => {
    const prompts = ['a yellow cat on a red sofa', 'two astronauts riding horses', 'an empty room'];
    const gt = [[1, 0, 1, 1, 1, 0, 1], [0, 1, 1, 0], [1, 1, 1]];
    const pred = [[1, 0, 0, 1, 1, 1, 1], [0, 1, 1, 1], [1, 0, 1]];
    // Generated sequences, as the decoder would emit them (one drops a word).
    const seqs = [labelsToSequence(prompts[0], pred[0]), labelsToSequence(prompts[1], pred[1]), 'an empty_0'];
    const predLabels = prompts.map((p, i) => sequenceToLabels(p, seqs[i]));
    expect(predLabels).toEqual(pred);
    const byLabels = keywordPRFFromLabels(predLabels, gt);
    const unique = [1, 2]; // prompt 0 repeats "a": compare the word form on the others only
    const byWords = keywordPRF(
      unique.map((i) => misalignedWords(seqs[i])),
      unique.map((i) => promptWords(prompts[i]).filter((_, k) => gt[i][k] === 0)),
    );
    expect(keywordPRFFromLabels(unique.map((i) => predLabels[i]), unique.map((i) => gt[i]))).toEqual(byWords);
    expect(byLabels).toMatchObject({ tp: 2, fp: 2, fn: 2 });
  });

  test('label-count mismatch throws', () => {
    expect(() => keywordPRFFromLabels([[1, 0]], [[1, 0, 1]])).toThrow(/sample 0 has 2 predicted labels but 3 ground-truth labels/);
    expect(() => keywordPRFFromLabels([], [[1]])).toThrow(/0 predicted samples but 1 ground-truth samples/);
  });
});
