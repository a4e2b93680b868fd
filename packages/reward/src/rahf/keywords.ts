/**
 * Misaligned-keyword sequences, the text target of RAHF's decoder.
 *
 * RichHF-18K labels one 0/1 value per prompt word (0 = the word is misrepresented or missing in the
 * image). Words are the prompt split on the punctuation `,.?!":;` and whitespace, empty pieces dropped.
 * The decoder is trained to reproduce the prompt words with `_0` appended to each misaligned word:
 * "a yellow cat" with labels [1, 0, 1] → "a yellow_0 cat".
 */

const WORD_SPLIT = /[,.?!":;\s]+/;
const MARK = '_0';

/** Prompt words in the RichHF-18K convention (the unit the token labels refer to). */
export function promptWords(prompt: string): string[] {
  return prompt.split(WORD_SPLIT).filter((w) => w.length > 0);
}

/** Decoder target for a prompt and its per-word labels (0 = misaligned). */
export function labelsToSequence(prompt: string, labels: ArrayLike<number>): string {
  const words = promptWords(prompt);
  if (words.length !== labels.length) {
    throw new Error(`keywords: prompt has ${words.length} words but ${labels.length} labels ("${prompt}")`);
  }
  return words.map((w, i) => (labels[i] === 0 ? w + MARK : w)).join(' ');
}

/** Words marked `_0` in a (generated) sequence, in order: "a yellow_0 cat" → ["yellow"]. */
export function misalignedWords(seq: string): string[] {
  const out: string[] = [];
  for (const piece of seq.split(WORD_SPLIT)) {
    if (piece.length > MARK.length && piece.endsWith(MARK)) out.push(piece.slice(0, -MARK.length));
  }
  return out;
}

/**
 * Per-word 0/1 labels of `prompt` recovered from a sequence: a word is 0 when the sequence marks it.
 * Matching is positional over the words both share, so a generated sequence that drops or repeats
 * words still yields one label per prompt word (unmatched words count as aligned).
 */
export function sequenceToLabels(prompt: string, seq: string): number[] {
  const words = promptWords(prompt);
  const pieces = seq.split(WORD_SPLIT).filter((w) => w.length > 0);
  const labels = words.map(() => 1);
  let j = 0;
  for (let i = 0; i < words.length && j < pieces.length; i++) {
    // Advance through the sequence to the next piece naming this word (marked or not).
    let k = j;
    while (k < pieces.length && pieces[k] !== words[i] && pieces[k] !== words[i] + MARK) k++;
    if (k === pieces.length) continue; // word absent from the sequence: keep it aligned
    if (pieces[k] === words[i] + MARK) labels[i] = 0;
    j = k + 1;
  }
  return labels;
}

/**
 * Id of the token that starts the `_0` mark after a word: the first id where the encodings of "a_0" and
 * "a" differ (`_0` in the synthetic tokenizer; `_` in T5's SentencePiece). Greedy decoding picks it over
 * the next word only when its logit is the larger, so a bias on it is the keyword decision threshold.
 */
export function markTokenId(encode: (text: string) => number[]): number {
  const plain = encode('a');
  const marked = encode(`a${MARK}`);
  let i = 0;
  while (i < plain.length && i < marked.length && plain[i] === marked[i]) i++;
  if (i >= marked.length) throw new Error(`keywords: the tokenizer encodes "a${MARK}" like "a"; the mark has no token`);
  return marked[i];
}

/** The decoder logit bias of a mark bias (RahfConfig.keywordMarkBias): none for 0, plain greedy search. */
export function markLogitBias(encode: (text: string) => number[], bias: number): ReadonlyMap<number, number> | undefined {
  return bias !== 0 ? new Map([[markTokenId(encode), bias]]) : undefined;
}
