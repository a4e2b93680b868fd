/**
 * The small T5-style tokenizer of the `tiny` preset. No real T5 SentencePiece model is available
 * offline, and a 32k-row embedding table would be most of a tiny model, so we build a SentencePiece
 * Unigram `tokenizer.json` (the layout `transformers` saves for T5: WhitespaceSplit + Metaspace
 * pre-tokenizer, Unigram model with (piece, log-probability) rows, Metaspace decoder, a template
 * appending `</s>`; <pad> = 0, </s> = 1, <unk> = 2) whose vocabulary is
 * - every word of the synthetic world's prompt grammar as a whole `▁word` piece,
 * - the words of the augmented-prompt task strings ("<output> SCORE: plausibility </output>"),
 * - the `_0` mark of misaligned words (so "yellow_0" is ▁yellow + _0 and decodes back),
 * - `▁` and every printable ASCII character, so any ASCII text tokenizes without <unk>.
 * Whole words get a much higher log-probability than characters, so Viterbi always prefers them.
 * The output is a pure function of the grammar: `pnpm rahf`-free regeneration with
 * `writeSynthTokenizer(dir)`; a test checks the bundled asset equals a fresh build.
 */
import * as fs from 'fs';
import * as path from 'path';
import { promptWords } from '../rahf/keywords';
import { HEATMAP_NAMES, SCORE_NAMES } from '../rahf/config';
import { samplePrompt } from '../data/synth/grammar';
import { Rng } from '../data/synth/rng';
import { writeFileAtomic } from '../util/atomic';

const META = '\u2581';
/** Log-probabilities: a whole word must beat any split into characters. */
const LOGP_WORD = -4;
const LOGP_MARK = -3;
const LOGP_CHAR = -12;
/** Prompts sampled to collect the grammar's words (the grammar has a few hundred words; 20k draws see them all). */
const PROMPT_DRAWS = 20000;

/** Words of the augmented-prompt task strings (config.DEFAULT_AUGMENTED_PROMPT_FORMAT). */
function taskWords(): string[] {
  return ['<output>', '</output>', 'SCORE:', 'HEATMAP:', ...SCORE_NAMES, ...HEATMAP_NAMES];
}

/** Every word the synthetic grammar produces (sorted). */
export function grammarWords(): string[] {
  const words = new Set<string>();
  const rng = new Rng('tokenizer-build');
  for (let i = 0; i < PROMPT_DRAWS; i++) for (const w of promptWords(samplePrompt(rng).caption)) words.add(w);
  return [...words].sort();
}

/** The tokenizer.json object (HF tokenizers format). */
export function buildSynthTokenizer(): Record<string, unknown> {
  const vocab: [string, number][] = [
    ['<pad>', 0],
    ['</s>', 0],
    ['<unk>', 0],
  ];
  const seen = new Set(vocab.map(([p]) => p));
  const add = (piece: string, logp: number) => {
    if (seen.has(piece)) return;
    seen.add(piece);
    vocab.push([piece, logp]);
  };
  add('_0', LOGP_MARK);
  for (const w of [...grammarWords(), ...taskWords()]) add(META + w, LOGP_WORD);
  add(META, LOGP_CHAR);
  for (let c = 33; c < 127; c++) add(String.fromCharCode(c), LOGP_CHAR);
  const special = (id: number, content: string) => ({
    id,
    content,
    single_word: false,
    lstrip: false,
    rstrip: false,
    normalized: false,
    special: true,
  });
  const metaspace = { type: 'Metaspace', replacement: META, prepend_scheme: 'always', split: true };
  return {
    version: '1.0',
    truncation: null,
    padding: null,
    added_tokens: [special(0, '<pad>'), special(1, '</s>'), special(2, '<unk>')],
    normalizer: null,
    pre_tokenizer: { type: 'Sequence', pretokenizers: [{ type: 'WhitespaceSplit' }, metaspace] },
    post_processor: {
      type: 'TemplateProcessing',
      single: [{ Sequence: { id: 'A', type_id: 0 } }, { SpecialToken: { id: '</s>', type_id: 0 } }],
      pair: [
        { Sequence: { id: 'A', type_id: 0 } },
        { SpecialToken: { id: '</s>', type_id: 0 } },
        { Sequence: { id: 'B', type_id: 0 } },
        { SpecialToken: { id: '</s>', type_id: 0 } },
      ],
      special_tokens: { '</s>': { id: '</s>', ids: [1], tokens: ['</s>'] } },
    },
    decoder: metaspace,
    model: { type: 'Unigram', unk_id: 2, vocab, byte_fallback: false },
  };
}

/** tokenizer_config.json beside it (names of the special tokens, as transformers writes for T5). */
export function synthTokenizerConfig(): Record<string, unknown> {
  return {
    eos_token: '</s>',
    pad_token: '<pad>',
    unk_token: '<unk>',
    model_max_length: 512,
    tokenizer_class: 'T5Tokenizer',
  };
}

/** Serialised files, byte-stable (compared against the bundled asset by a test). */
export function synthTokenizerFiles(): Record<string, string> {
  return {
    'tokenizer.json': JSON.stringify(buildSynthTokenizer()) + '\n',
    'tokenizer_config.json': JSON.stringify(synthTokenizerConfig(), null, 2) + '\n',
  };
}

/** Write tokenizer.json and tokenizer_config.json into `dir`; returns the tokenizer.json path. */
export function writeSynthTokenizer(dir: string): string {
  for (const [name, text] of Object.entries(synthTokenizerFiles())) writeFileAtomic(path.join(dir, name), text);
  return path.join(dir, 'tokenizer.json');
}

/** The bundled copy (packages/reward/assets/synth-tokenizer), used by `rahf train --preset tiny`. */
export const SYNTH_TOKENIZER_DIR = path.resolve(__dirname, '..', '..', 'assets', 'synth-tokenizer');

/** Path of the bundled tokenizer.json, writing it first if the package lacks it. */
export function synthTokenizerFile(): string {
  const f = path.join(SYNTH_TOKENIZER_DIR, 'tokenizer.json');
  return fs.existsSync(f) ? f : writeSynthTokenizer(SYNTH_TOKENIZER_DIR);
}
