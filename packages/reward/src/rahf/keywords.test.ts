import { Tokenizer } from '../tokenizer';
import { synthTokenizerFile } from '../train/tokenizer-build';
import { labelsToSequence, markTokenId, misalignedWords, promptWords, sequenceToLabels } from './keywords';

describe('promptWords', () => {
  test('splits on RichHF punctuation and whitespace, dropping empty pieces', () => {
    expect(promptWords('A cat, sitting on "the" mat.  Really?!')).toEqual(['A', 'cat', 'sitting', 'on', 'the', 'mat', 'Really']);
    expect(promptWords('one;two:three\tfour\nfive')).toEqual(['one', 'two', 'three', 'four', 'five']);
    expect(promptWords('  ,. ')).toEqual([]);
  });

  test('keeps apostrophes, hyphens and other characters inside words', () => {
    expect(promptWords("a dog's red-ish hat (8k)")).toEqual(['a', "dog's", 'red-ish', 'hat', '(8k)']);
  });
});

describe('labelsToSequence', () => {
  test('marks label-0 words with _0', () => {
    expect(labelsToSequence('a yellow cat', [1, 0, 1])).toBe('a yellow_0 cat');
    expect(labelsToSequence('two astronaut, riding.', [0, 1, 0])).toBe('two_0 astronaut riding_0');
  });

  test('rejects a label count that does not match the words', () => {
    expect(() => labelsToSequence('a yellow cat', [1, 0])).toThrow(/3 words but 2 labels/);
  });
});

describe('misalignedWords', () => {
  test('extracts words marked _0 in order', () => {
    expect(misalignedWords('a yellow_0 cat')).toEqual(['yellow']);
    expect(misalignedWords('two_0 astronaut riding a horse on the moon_0')).toEqual(['two', 'moon']);
    expect(misalignedWords('nothing marked here')).toEqual([]);
    expect(misalignedWords('')).toEqual([]);
  });

  test('ignores a bare marker and tolerates punctuation after a marked word', () => {
    expect(misalignedWords('_0 a cat_0, dog_0.')).toEqual(['cat', 'dog']);
  });

  test('round-trips with labelsToSequence', () => {
    const prompt = 'a man jumping in the river at night';
    const labels = [1, 1, 0, 1, 1, 0, 1, 0];
    const seq = labelsToSequence(prompt, labels);
    expect(misalignedWords(seq)).toEqual(['jumping', 'river', 'night']);
    expect(sequenceToLabels(prompt, seq)).toEqual(labels);
  });
});

describe('sequenceToLabels', () => {
  test('aligns a sequence that drops or repeats words', () => {
    expect(sequenceToLabels('a red cat on a mat', 'a red_0 red cat a mat_0')).toEqual([1, 0, 1, 1, 1, 0]);
    expect(sequenceToLabels('a red cat', '')).toEqual([1, 1, 1]);
  });
});

describe('markTokenId', () => {
  test("is the synthetic tokenizer's `_0` piece, the token greedy decoding weighs against the next word", () => {
    const tok = Tokenizer.fromFile(synthTokenizerFile());
    const id = markTokenId((t) => tok.encode(t));
    expect(id).toBe(tok.tokenToId('_0'));
    expect(tok.encode('a yellow_0 cat')).toContain(id);
  });

  test('finds the first differing piece, and fails when the mark leaves no token', () => {
    // A T5-like split: "a_0" → ▁a _ 0 </s>, "a" → ▁a </s>.
    expect(markTokenId((t) => (t === 'a' ? [9, 1] : [9, 7, 8, 1]))).toBe(7);
    expect(() => markTokenId(() => [9, 1])).toThrow(/the mark has no token/);
  });
});
