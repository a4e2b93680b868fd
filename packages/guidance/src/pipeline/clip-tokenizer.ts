import * as fs from 'fs';
import * as path from 'path';
import { Tokenizer as HfTokenizer } from '@huggingface/tokenizers';
import { UserError } from '@richhf/reward';

/**
 * The CLIP BPE tokenizer of a Stable Diffusion folder (`tokenizer/`), run by @huggingface/tokenizers:
 * `tokenizer.json` when present, else `vocab.json` + `merges.txt` (what SD repositories ship), turned into the
 * tokenizer.json that transformers' CLIPConverter (convert_slow_tokenizer.py) would write — NFC, whitespace
 * runs to one space, lowercase; CLIP's word regex; byte-level alphabet; BPE with the `</w>` end-of-word
 * suffix; `<|startoftext|> … <|endoftext|>` around each text. `tokenizer_config.json` gives
 * model_max_length and the special tokens. Prompts are encoded as diffusers does:
 * `tokenizer(prompt, padding="max_length", max_length=model_max_length, truncation=True)`.
 */

type Json = Record<string, unknown>;

function readJson(file: string): Json {
  let value: unknown;
  try {
    value = JSON.parse(fs.readFileSync(file, 'utf8'));
  } catch (e) {
    const code = (e as NodeJS.ErrnoException).code;
    throw new UserError(code ? `${file}: cannot read (${code})` : `${file}: not JSON (${(e as Error).message.split('\n')[0]})`);
  }
  if (value === null || typeof value !== 'object' || Array.isArray(value)) throw new UserError(`${file}: expected a JSON object`);
  return value as Json;
}

function tokenName(v: unknown): string | undefined {
  if (typeof v === 'string') return v;
  if (v && typeof v === 'object' && typeof (v as Json).content === 'string') return (v as Json).content as string;
  return undefined;
}

const CLIP_WORDS = "'s|'t|'re|'ve|'m|'ll|'d|[\\p{L}]+|[\\p{N}]|[^\\s\\p{L}\\p{N}]+";

/** tokenizer.json for a CLIP vocab.json + merges.txt (the structure transformers' CLIPConverter builds). */
export function clipTokenizerJson(vocab: Record<string, number>, merges: string[], bos: string, eos: string, unk: string): Json {
  const special = (content: string) => ({ id: vocab[content], content, single_word: false, lstrip: false, rstrip: false, normalized: true, special: true });
  return {
    version: '1.0',
    truncation: null,
    padding: null,
    added_tokens: [...new Set([bos, eos, unk])].filter((t) => vocab[t] !== undefined).map(special),
    normalizer: {
      type: 'Sequence',
      normalizers: [{ type: 'NFC' }, { type: 'Replace', pattern: { Regex: '\\s+' }, content: ' ' }, { type: 'Lowercase' }],
    },
    pre_tokenizer: {
      type: 'Sequence',
      pretokenizers: [
        { type: 'Split', pattern: { Regex: CLIP_WORDS }, behavior: 'Removed', invert: true },
        { type: 'ByteLevel', add_prefix_space: false, trim_offsets: true, use_regex: false },
      ],
    },
    post_processor: { type: 'RobertaProcessing', sep: [eos, vocab[eos]], cls: [bos, vocab[bos]], trim_offsets: false, add_prefix_space: false },
    decoder: { type: 'ByteLevel', add_prefix_space: true, trim_offsets: true, use_regex: true },
    model: { type: 'BPE', dropout: null, unk_token: unk, continuing_subword_prefix: '', end_of_word_suffix: '</w>', fuse_unk: false, byte_fallback: false, vocab, merges },
  };
}

export class ClipTokenizer {
  private constructor(
    private readonly hf: HfTokenizer,
    /** Sequence length prompts are padded / truncated to (model_max_length, 77 for SD). */
    readonly maxLength: number,
    readonly bosId: number,
    readonly eosId: number,
    readonly padId: number,
    readonly dir: string,
  ) {}

  /** Load `dir` (an SD folder's tokenizer/). `maxLength` overrides tokenizer_config.json's model_max_length. */
  static fromDir(dir: string, opts: { maxLength?: number } = {}): ClipTokenizer {
    const cfgFile = path.join(dir, 'tokenizer_config.json');
    const config = fs.existsSync(cfgFile) ? readJson(cfgFile) : {};
    const mapFile = path.join(dir, 'special_tokens_map.json');
    const specials = fs.existsSync(mapFile) ? readJson(mapFile) : {};
    const special = (key: string, dflt: string) => tokenName(config[key]) ?? tokenName(specials[key]) ?? dflt;
    const bos = special('bos_token', '<|startoftext|>');
    const eos = special('eos_token', '<|endoftext|>');
    const unk = special('unk_token', '<|endoftext|>');
    const pad = special('pad_token', eos);

    let json: Json;
    const tokFile = path.join(dir, 'tokenizer.json');
    const vocabFile = path.join(dir, 'vocab.json');
    const mergesFile = path.join(dir, 'merges.txt');
    if (fs.existsSync(tokFile)) json = readJson(tokFile);
    else if (fs.existsSync(vocabFile) && fs.existsSync(mergesFile)) {
      const vocab = readJson(vocabFile) as Record<string, number>;
      if (!Object.values(vocab).every((v) => Number.isInteger(v) && v >= 0)) throw new UserError(`${vocabFile}: expected {token: id} with integer ids`);
      // merges.txt: an optional "#version" line, then one "left right" pair per line.
      const merges = fs
        .readFileSync(mergesFile, 'utf8')
        .split('\n')
        .map((l) => l.trimEnd())
        .filter((l, i) => l.length > 0 && !(i === 0 && l.startsWith('#version')));
      const bad = merges.findIndex((m) => m.split(' ').length !== 2);
      if (bad >= 0) throw new UserError(`${mergesFile}: line "${merges[bad]}" is not a pair of tokens`);
      json = clipTokenizerJson(vocab, merges, bos, eos, unk);
    } else {
      throw new UserError(`${dir}: no tokenizer.json, and no vocab.json + merges.txt (a CLIP tokenizer folder)`);
    }
    const label = fs.existsSync(tokFile) ? tokFile : vocabFile;
    let hf: HfTokenizer;
    try {
      hf = new HfTokenizer(json, { ...config, clean_up_tokenization_spaces: false });
    } catch (e) {
      throw new UserError(`${label}: unsupported or malformed tokenizer (${String((e as Error).message ?? e).split('\n')[0]})`);
    }
    const id = (t: string, what: string) => {
      const v = hf.token_to_id(t);
      if (v === undefined) throw new UserError(`${label}: the ${what} token ${JSON.stringify(t)} is not in the vocabulary`);
      return v;
    };
    const fromConfig = typeof config.model_max_length === 'number' && config.model_max_length < 1e9 ? config.model_max_length : 77;
    const maxLength = opts.maxLength ?? fromConfig;
    if (!Number.isInteger(maxLength) || maxLength < 3) throw new UserError(`${cfgFile}: model_max_length ${maxLength} leaves no room for text`);
    return new ClipTokenizer(hf, maxLength, id(bos, 'bos'), id(eos, 'eos'), id(pad, 'pad'), dir);
  }

  /** Token strings of a text without the specials (for inspection). */
  tokens(text: string): string[] {
    return this.hf.encode(text, { add_special_tokens: false }).tokens;
  }

  /**
   * Rows of `maxLength` ids: bos, the text's ids (cut so eos still fits), eos, then pad. `maxLength` defaults
   * to the tokenizer's; diffusers encodes the negative prompt to the prompt's length, which is the same.
   */
  encode(texts: readonly string[], maxLength = this.maxLength): number[][] {
    return texts.map((text) => {
      const body = this.hf.encode(text, { add_special_tokens: false }).ids.map(Number).slice(0, maxLength - 2);
      const row = [this.bosId, ...body, this.eosId];
      return row.concat(new Array<number>(maxLength - row.length).fill(this.padId));
    });
  }

  /** Number of text tokens a prompt has before truncation (so callers can warn about cut prompts). */
  countTokens(text: string): number {
    return this.hf.encode(text, { add_special_tokens: false }).ids.length;
  }
}
