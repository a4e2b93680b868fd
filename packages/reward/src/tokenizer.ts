import * as fs from 'fs';
import * as path from 'path';
import { Tokenizer as HfTokenizer } from '@huggingface/tokenizers';
import { writeFileAtomic } from './util/atomic';
import { FileFormatError, UserError } from './errors';
import { readRegularText } from './io/files';

/** Options of {@link Tokenizer.encodeBatch}. */
export interface EncodeBatchOptions {
  /** Truncate each sequence to this many ids, special tokens included (HF `truncation=True, max_length`). */
  maxLength?: number;
  /** Pad every row to this length (HF `padding='max_length'`) or to the longest row (default). */
  padTo?: number | 'longest';
}

export interface EncodedBatch {
  ids: number[][];
  mask: number[][];
}

type Json = Record<string, unknown>;

function readJson(file: string, what: string): { json: Json; text: string } {
  const text = readRegularText(file, what);
  let value: unknown;
  try {
    value = JSON.parse(text);
  } catch (e) {
    throw new UserError(`${file}: not a JSON ${what} (${(e as Error).message.split('\n')[0]})`);
  }
  if (value === null || typeof value !== 'object' || Array.isArray(value)) {
    throw new UserError(`${file}: not a ${what} (top level is not a JSON object)`);
  }
  return { json: value as Json, text };
}

/** A token id the file declares: an integer in [0, n) (n: the vocabulary size when known). */
function isId(v: unknown, n = Infinity): boolean {
  return Number.isInteger(v) && (v as number) >= 0 && (v as number) < n;
}

/**
 * Ids a tokenizer.json declares outside its vocabulary would come out of encode() as they are (an
 * `unk_id: -1` gave token −1): checked against the vocabulary before the library sees them.
 */
function checkIds(file: string, json: Json): void {
  const model = json.model as Json;
  const vocab = model.vocab;
  const n = Array.isArray(vocab) ? vocab.length : vocab && typeof vocab === 'object' ? Object.keys(vocab).length : 0;
  if (n === 0) throw new FileFormatError(file, 'the vocabulary is empty');
  if (model.unk_id !== undefined && model.unk_id !== null && !isId(model.unk_id, n)) {
    throw new FileFormatError(file, `model.unk_id ${JSON.stringify(model.unk_id)} is not an index of the ${n}-entry vocabulary`);
  }
  const added = json.added_tokens ?? [];
  if (!Array.isArray(added)) throw new FileFormatError(file, 'added_tokens is not a list');
  // Ids may leave holes (test fixtures do) but not more holes than tokens: the library sizes tables by the
  // largest id, and an id of 2^31 made it run for minutes.
  const ceiling = 2 * (n + added.length) + 1024;
  if (Array.isArray(vocab)) {
    // Unigram: [piece, log-probability] pairs; anything else shifts every later id silently.
    const seen = new Set<string>();
    vocab.forEach((e, i) => {
      if (!Array.isArray(e) || e.length !== 2 || typeof e[0] !== 'string' || typeof e[1] !== 'number' || !Number.isFinite(e[1])) {
        throw new FileFormatError(file, `vocabulary entry ${i} is ${JSON.stringify(e).slice(0, 60)}, not a [piece, score] pair`);
      }
      // A repeated piece gives two ids one token: encode and token_to_id then disagree.
      if (seen.has(e[0])) throw new FileFormatError(file, `vocabulary entry ${i} repeats the piece ${JSON.stringify(e[0]).slice(0, 40)}`);
      seen.add(e[0]);
    });
  } else {
    for (const [tok, id] of Object.entries(vocab as Json)) {
      if (!isId(id, ceiling)) throw new FileFormatError(file, `vocabulary id of ${JSON.stringify(tok).slice(0, 60)} is ${JSON.stringify(id)}, not an integer in [0, ${ceiling})`);
    }
  }
  // The model's own token at each id, to check added tokens against.
  const tokenAt = new Map<number, string>();
  if (Array.isArray(vocab)) vocab.forEach((e, i) => tokenAt.set(i, (e as [string, number])[0]));
  else for (const [tok, id] of Object.entries(vocab as Json)) tokenAt.set(id as number, tok);
  for (const t of added) {
    if (!t || typeof t !== 'object' || !isId((t as Json).id, ceiling) || typeof (t as Json).content !== 'string') {
      throw new FileFormatError(file, `added_tokens entry ${JSON.stringify(t).slice(0, 80)} needs an integer id in [0, ${ceiling}) and string content`);
    }
    const { id, content } = t as { id: number; content: string };
    const own = tokenAt.get(id);
    if (own !== undefined && own !== content) {
      throw new FileFormatError(file, `added token ${JSON.stringify(content).slice(0, 40)} takes id ${id}, which the vocabulary gives to ${JSON.stringify(own).slice(0, 40)}`);
    }
  }
  const padding = json.padding as Json | null | undefined;
  if (padding && typeof padding === 'object' && padding.pad_id !== undefined && !isId(padding.pad_id, ceiling)) {
    throw new FileFormatError(file, `padding.pad_id ${JSON.stringify(padding.pad_id)} is not a token id`);
  }
}

/** A special-token entry of tokenizer_config.json is either a string or an AddedToken-like object. */
function tokenName(v: unknown): string | undefined {
  if (typeof v === 'string') return v;
  if (v && typeof v === 'object' && typeof (v as Json).content === 'string') return (v as Json).content as string;
  return undefined;
}

/**
 * HF `tokenizer.json` tokenizer (BPE, WordPiece, Unigram/SentencePiece-style…) run by the pure-JS
 * `@huggingface/tokenizers`; ids match the Rust `tokenizers` crate, post-processor included (T5 appends
 * `</s>`). A sibling `tokenizer_config.json` is read when present for the pad/eos names and decode flags.
 */
export class Tokenizer {
  readonly padId: number;
  readonly eosId: number | undefined;
  /** Ids the template adds before / after a single sequence (T5: [] / [</s>]; CLIP: [bos] / [eos]). */
  private readonly prefix: number[];
  private readonly suffix: number[];

  private constructor(
    private readonly hf: HfTokenizer,
    readonly file: string,
    /**
     * The text of tokenizer.json and of the sibling files it was loaded with, by file name: what a saved model
     * writes next to its weights. Held in memory because the directory it came from may be gone by then (a
     * training run prunes the checkpoint it resumed from).
     */
    readonly files: ReadonlyMap<string, string>,
    json: Json,
    config: Json,
  ) {
    const id = (name: string | undefined) => (name === undefined ? undefined : hf.token_to_id(name));
    const padding = json.padding as Json | null | undefined;
    this.eosId = id(tokenName(config.eos_token)) ?? id('</s>') ?? id('<|endoftext|>');
    this.padId =
      (typeof padding?.pad_id === 'number' ? padding.pad_id : undefined) ??
      id(tokenName(config.pad_token)) ??
      id('<pad>') ??
      this.eosId ??
      0;
    [this.prefix, this.suffix] = this.templateSpecials();
  }

  /** Load a `tokenizer.json` (and its sibling `tokenizer_config.json`, if any). */
  static fromFile(file: string): Tokenizer {
    const { json, text } = readJson(file, 'tokenizer.json');
    const files = new Map([['tokenizer.json', text]]);
    const model = json.model as Json | undefined;
    if (!model || typeof model !== 'object' || !model.vocab) {
      throw new UserError(`${file}: not a tokenizer.json (no "model" with a vocabulary)`);
    }
    checkIds(file, json);
    const cfgFile = path.join(path.dirname(file), 'tokenizer_config.json');
    let config: Json = {};
    if (fs.existsSync(cfgFile)) {
      const cfg = readJson(cfgFile, 'tokenizer_config.json');
      config = cfg.json;
      files.set('tokenizer_config.json', cfg.text);
    }
    // Not read by the tokenizer, only carried along.
    const special = path.join(path.dirname(file), 'special_tokens_map.json');
    if (fs.existsSync(special)) files.set('special_tokens_map.json', readRegularText(special, 'special_tokens_map.json'));
    // transformers ≥ 4.45 / 5 default: no "clean up" of spaces before punctuation on decode.
    const libConfig = { ...config, clean_up_tokenization_spaces: config.clean_up_tokenization_spaces ?? false };
    // The library trusts its input: a malformed file surfaces as "type is not iterable" or "Cannot read
    // properties of undefined" from the constructor, or only at the first encode (the template probe).
    let tok: Tokenizer;
    try {
      tok = new Tokenizer(new HfTokenizer(json, libConfig), file, files, json, config);
    } catch (e) {
      if (e instanceof UserError) throw e;
      throw new FileFormatError(file, `unsupported or malformed tokenizer (${String((e as Error)?.message ?? e).split('\n')[0]})`);
    }
    // Vocabularies may be sparse (CLIP's test fixtures): an id is valid when the tokenizer has a token for it.
    for (const [what, id] of [['pad id', tok.padId], ['eos id', tok.eosId]] as const) {
      if (id !== undefined && !(Number.isInteger(id) && id >= 0 && tok.hf.id_to_token(id) !== undefined)) {
        throw new FileFormatError(file, `${what} ${id} is not a token of the vocabulary`);
      }
    }
    return tok;
  }

  /** Write {@link files} into `dir` (each atomically); returns the paths written. */
  saveTo(dir: string): string[] {
    return [...this.files].map(([name, text]) => {
      const dst = path.join(dir, name);
      writeFileAtomic(dst, text);
      return dst;
    });
  }

  /**
   * Load `dir/tokenizer.json`. A directory with only a SentencePiece `spiece.model` is refused: running
   * it faithfully needs its protobuf, the precompiled normaliser char-map and the slow tokenizer's
   * quirks; `transformers` converts it to tokenizer.json (`save_pretrained` of the fast tokenizer), and
   * every hub T5 repo already ships one.
   */
  static fromDir(dir: string): Tokenizer {
    const file = path.join(dir, 'tokenizer.json');
    if (!fs.existsSync(file)) {
      const hint = fs.existsSync(path.join(dir, 'spiece.model'))
        ? ' (only spiece.model found: SentencePiece models are not supported, convert with transformers ' +
          'AutoTokenizer.from_pretrained(dir).save_pretrained(dir) to get tokenizer.json)'
        : '';
      throw new UserError(`${file}: no such file${hint}`);
    }
    return Tokenizer.fromFile(file);
  }

  /** Vocabulary size including added tokens. */
  get vocabSize(): number {
    return this.hf.get_vocab(true).size;
  }

  tokenToId(token: string): number | undefined {
    return this.hf.token_to_id(token);
  }

  /** Token strings of `text`, special tokens included (as HF `Encoding.tokens`). */
  tokens(text: string): string[] {
    return this.hf.encode(text).tokens;
  }

  /** Ids of `text` with the post-processor's special tokens (T5: trailing `</s>`). */
  encode(text: string): number[] {
    return this.idsOf(text, true);
  }

  /**
   * Encode, truncate and pad a batch. Truncation works like HF `truncation=True`: the room for the
   * template's special tokens is reserved, the text ids are cut, then the specials are re-added — for T5
   * a row of exactly `maxLength` ids ending with `</s>`. Padding is on the right with `padId`, mask 0.
   */
  encodeBatch(texts: string[], opts: EncodeBatchOptions = {}): EncodedBatch {
    const { maxLength, padTo = 'longest' } = opts;
    const nSpecial = this.prefix.length + this.suffix.length;
    if (maxLength !== undefined && !(Number.isInteger(maxLength) && maxLength > nSpecial)) {
      throw new UserError(`maxLength ${maxLength} leaves no room for text (the template adds ${nSpecial} special tokens)`);
    }
    const rows = texts.map((t) => {
      const ids = this.encode(t);
      if (maxLength === undefined || ids.length <= maxLength) return ids;
      const body = this.idsOf(t, false);
      return [...this.prefix, ...body.slice(0, maxLength - nSpecial), ...this.suffix];
    });
    const longest = rows.reduce((m, r) => Math.max(m, r.length), 0);
    const width = padTo === 'longest' ? longest : padTo;
    if (!Number.isInteger(width) || width < longest) {
      throw new UserError(`padTo ${padTo} is shorter than the longest row (${longest} ids); set maxLength to truncate`);
    }
    return {
      ids: rows.map((r) => [...r, ...new Array<number>(width - r.length).fill(this.padId)]),
      mask: rows.map((r) => [...new Array<number>(r.length).fill(1), ...new Array<number>(width - r.length).fill(0)]),
    };
  }

  /** Text of `ids`; `skipSpecialTokens` drops pad/eos/unk/extra-id tokens like HF `skip_special_tokens`. */
  decode(ids: number[], skipSpecialTokens = false): string {
    if (ids.length === 0) return '';
    return this.hf.decode(ids.map(Number), { skip_special_tokens: skipSpecialTokens });
  }

  /**
   * Ids of `text`, each checked: the library returns undefined (then NaN) for a word its model has no id
   * for (a WordLevel vocabulary without a working unk token, a vocabulary with holes), which would reach
   * the model as garbage.
   */
  private idsOf(text: string, specials: boolean): number[] {
    const enc = this.hf.encode(text, { add_special_tokens: specials });
    const ids = enc.ids.map(Number);
    const bad = ids.findIndex((id) => !(Number.isInteger(id) && id >= 0 && this.hf.id_to_token(id) !== undefined));
    if (bad >= 0) {
      const token = enc.tokens[bad];
      throw new FileFormatError(this.file, `no token id for ${JSON.stringify(token ?? '?').slice(0, 40)} in "${text.slice(0, 40)}" (the model gave ${ids[bad]}, not a token of the vocabulary: no entry and no usable unk token)`);
    }
    return ids;
  }

  /**
   * Special ids the post-processor puts around a single sequence, found by comparing an encoding with and
   * without specials (works for every template without reading its config).
   */
  private templateSpecials(): [number[], number[]] {
    const probe = 'a';
    const full = this.idsOf(probe, true);
    const body = this.idsOf(probe, false);
    for (let k = 0; k + body.length <= full.length; k++) {
      if (body.every((v, i) => full[k + i] === v)) return [full.slice(0, k), full.slice(k + body.length)];
    }
    throw new UserError(`${this.file}: post-processor does not keep the text ids contiguous; truncation unsupported`);
  }
}
