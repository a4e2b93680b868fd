import * as fs from 'fs';
import * as path from 'path';
import { Tokenizer as HfTokenizer } from '@huggingface/tokenizers';
import { writeFileAtomic } from './util/atomic';

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
  let text: string;
  try {
    text = fs.readFileSync(file, 'utf8');
  } catch (e) {
    const code = (e as NodeJS.ErrnoException).code;
    throw new Error(code === 'ENOENT' ? `${file}: no such file` : `${file}: cannot read ${what} (${code ?? e})`);
  }
  let value: unknown;
  try {
    value = JSON.parse(text);
  } catch (e) {
    throw new Error(`${file}: not a JSON ${what} (${(e as Error).message.split('\n')[0]})`);
  }
  if (value === null || typeof value !== 'object' || Array.isArray(value)) {
    throw new Error(`${file}: not a ${what} (top level is not a JSON object)`);
  }
  return { json: value as Json, text };
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
      throw new Error(`${file}: not a tokenizer.json (no "model" with a vocabulary)`);
    }
    const cfgFile = path.join(path.dirname(file), 'tokenizer_config.json');
    let config: Json = {};
    if (fs.existsSync(cfgFile)) {
      const cfg = readJson(cfgFile, 'tokenizer_config.json');
      config = cfg.json;
      files.set('tokenizer_config.json', cfg.text);
    }
    // Not read by the tokenizer, only carried along.
    const special = path.join(path.dirname(file), 'special_tokens_map.json');
    if (fs.existsSync(special)) files.set('special_tokens_map.json', fs.readFileSync(special, 'utf8'));
    // transformers ≥ 4.45 / 5 default: no "clean up" of spaces before punctuation on decode.
    const libConfig = { ...config, clean_up_tokenization_spaces: config.clean_up_tokenization_spaces ?? false };
    let hf: HfTokenizer;
    try {
      hf = new HfTokenizer(json, libConfig);
    } catch (e) {
      throw new Error(`${file}: unsupported or malformed tokenizer (${String((e as Error).message ?? e).split('\n')[0]})`);
    }
    return new Tokenizer(hf, file, files, json, config);
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
      throw new Error(`${file}: no such file${hint}`);
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
    return this.hf.encode(text).ids.map(Number);
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
      throw new Error(`maxLength ${maxLength} leaves no room for text (the template adds ${nSpecial} special tokens)`);
    }
    const rows = texts.map((t) => {
      const ids = this.encode(t);
      if (maxLength === undefined || ids.length <= maxLength) return ids;
      const body = this.hf.encode(t, { add_special_tokens: false }).ids.map(Number);
      return [...this.prefix, ...body.slice(0, maxLength - nSpecial), ...this.suffix];
    });
    const longest = rows.reduce((m, r) => Math.max(m, r.length), 0);
    const width = padTo === 'longest' ? longest : padTo;
    if (!Number.isInteger(width) || width < longest) {
      throw new Error(`padTo ${padTo} is shorter than the longest row (${longest} ids); set maxLength to truncate`);
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
   * Special ids the post-processor puts around a single sequence, found by comparing an encoding with and
   * without specials (works for every template without reading its config).
   */
  private templateSpecials(): [number[], number[]] {
    const probe = 'a';
    const full = this.hf.encode(probe).ids.map(Number);
    const body = this.hf.encode(probe, { add_special_tokens: false }).ids.map(Number);
    for (let k = 0; k + body.length <= full.length; k++) {
      if (body.every((v, i) => full[k + i] === v)) return [full.slice(0, k), full.slice(k + body.length)];
    }
    throw new Error(`${this.file}: post-processor does not keep the text ids contiguous; truncation unsupported`);
  }
}
