import { labelsToSequence, misalignedWords, promptWords, sequenceToLabels } from './keywords';

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
