import { LimitError, UserError } from '../errors';

/**
 * Resource limits on what an input file may make this package allocate or compute. A file over one is
 * refused with a LimitError naming the file, the size and the setting that raises it — before the memory
 * is allocated, so a small hostile file cannot abort the process (V8's out-of-memory is a SIGABRT no
 * try/catch stops), hang it, or eat the machine.
 *
 * Defaults fit every real input we know of (RichHF-18K records, Pick-a-Pic parquet, HF and torch
 * checkpoints of T5-XXL size, camera photos) with room to spare. Raise one per call (the functions take
 * `limits`), for the whole process (`setLimits`), from the environment (`RAHF_MAX_IMAGE_PIXELS=…`, the
 * names below), or on the command line (`rahf --max-image-pixels N …`).
 */
export interface Limits {
  /** Decoded pixels of one image (width × height): 10000² PNG bombs decode to GBs. Env RAHF_MAX_IMAGE_PIXELS. */
  maxImagePixels: number;
  /** Bytes of one encoded image file. Env RAHF_MAX_IMAGE_BYTES. */
  maxImageBytes: number;
  /** Pixels of one heatmap in a RichHF record (the release's are 512²; consolidate writes ≤ 4096²). Env RAHF_MAX_MAP_PIXELS. */
  maxMapPixels: number;
  /** Decoded heatmap pixels a RichHF read keeps in flight ahead of the consumer. Env RAHF_MAX_MAP_PIXELS_AHEAD. */
  maxMapPixelsAhead: number;
  /** Bytes of one TFRecord record (a RichHF record is < 1 MB). Env RAHF_MAX_RECORD_BYTES. */
  maxRecordBytes: number;
  /** Bytes a compressed zip entry may inflate to (torch stores tensors uncompressed). Env RAHF_MAX_INFLATED_BYTES. */
  maxInflatedBytes: number;
  /** Bytes of a checkpoint's pickle (data.pkl: a few MB for the largest models). Env RAHF_MAX_PICKLE_BYTES. */
  maxPickleBytes: number;
  /** Nesting depth of containers in a pickle (a state_dict is 1–3 deep). Env RAHF_MAX_PICKLE_DEPTH. */
  maxPickleDepth: number;
  /** Memo entries of a pickle (one per container or string at most). Env RAHF_MAX_PICKLE_MEMO. */
  maxPickleMemo: number;
  /**
   * Elements a strided (non-contiguous) tensor view may gather beyond its storage's own size: torch saves
   * an `expand()`ed tensor as a small storage and stride 0, which a 600-byte file can blow up to GBs.
   * Env RAHF_MAX_EXPANDED_ELEMENTS.
   */
  maxExpandedElements: number;
  /** Bytes of a JSON file read whole (config.json, tokenizer.json, shard index, JSONL). Env RAHF_MAX_JSON_BYTES. */
  maxJsonBytes: number;
  /** Uncompressed bytes of one parquet column chunk read at once. Env RAHF_MAX_PARQUET_CHUNK_BYTES. */
  maxParquetChunkBytes: number;
}

const MiB = 1 << 20;

export const DEFAULT_LIMITS: Readonly<Limits> = Object.freeze({
  maxImagePixels: 36_000_000,
  maxImageBytes: 256 * MiB,
  maxMapPixels: 4096 * 4096,
  maxMapPixelsAhead: 64 * MiB,
  maxRecordBytes: 256 * MiB,
  maxInflatedBytes: 256 * MiB,
  maxPickleBytes: 256 * MiB,
  maxPickleDepth: 1000,
  maxPickleMemo: 10_000_000,
  maxExpandedElements: 16 * MiB,
  maxJsonBytes: 1024 * MiB,
  maxParquetChunkBytes: 1024 * MiB,
});

/** Environment variable of each limit: maxImagePixels → RAHF_MAX_IMAGE_PIXELS. */
export function limitEnvName(key: keyof Limits): string {
  return `RAHF_${key.replace(/[A-Z]/g, (c) => `_${c}`).toUpperCase()}`;
}

/** CLI option of each limit: maxImagePixels → --max-image-pixels. */
export function limitOptionName(key: keyof Limits): string {
  return `--${key.replace(/[A-Z]/g, (c) => `-${c.toLowerCase()}`)}`;
}

let current: Limits | undefined;

function fromEnv(): Limits {
  const out = { ...DEFAULT_LIMITS };
  for (const key of Object.keys(DEFAULT_LIMITS) as (keyof Limits)[]) {
    const raw = process.env[limitEnvName(key)];
    if (raw === undefined || raw === '') continue;
    const v = Number(raw);
    if (!(Number.isSafeInteger(v) && v > 0)) {
      throw new UserError(`${limitEnvName(key)}=${raw}: expected a positive integer`);
    }
    out[key] = v;
  }
  return out;
}

/** The limits in force: the defaults, the environment, then `setLimits`. */
export function getLimits(): Readonly<Limits> {
  if (!current) current = fromEnv();
  return current;
}

/** Changes limits for the whole process (the CLI's --max-* options); returns the new set. */
export function setLimits(changes: Partial<Limits>): Readonly<Limits> {
  const next = { ...getLimits() };
  for (const [k, v] of Object.entries(changes) as [keyof Limits, number | undefined][]) {
    if (v === undefined) continue;
    if (!(k in DEFAULT_LIMITS)) throw new UserError(`unknown limit "${k}"`);
    if (!(Number.isSafeInteger(v) && v > 0)) throw new UserError(`${limitOptionName(k)} must be a positive integer, got ${v}`);
    next[k] = v;
  }
  current = next;
  return current;
}

/** `getLimits()` with per-call overrides. */
export function limitsWith(overrides?: Partial<Limits>): Readonly<Limits> {
  if (!overrides) return getLimits();
  const out = { ...getLimits() };
  for (const [k, v] of Object.entries(overrides) as [keyof Limits, number | undefined][]) if (v !== undefined) out[k] = v;
  return out;
}

/** How a limit is raised, for messages: "(limit 36000000: --max-image-pixels or RAHF_MAX_IMAGE_PIXELS)". */
export function limitHint(key: keyof Limits, value: number): string {
  return `limit ${value}; raise it with ${limitOptionName(key)} or ${limitEnvName(key)}`;
}

/**
 * Throws a LimitError when `actual` (what the file declares or needs) exceeds limit `key`:
 * "<file>: <what> is <actual>, over the limit of N (raise it with --opt or RAHF_…)".
 */
export function checkLimit(file: string, what: string, actual: number, key: keyof Limits, limits: Readonly<Limits> = getLimits()): void {
  const max = limits[key];
  if (!(actual <= max)) throw new LimitError(file, `${what} is ${actual}, over the ${limitHint(key, max)}`, key);
}
