import sharp, { type Metadata } from 'sharp';
import { inOrderAhead } from '../util/ahead';
import { decodeExample, encodeExample, Example, Feature, FeatureKind } from './example-proto';
import { GrayMap, RichHFRecord, uidOf } from './record';
import { readTFRecords, TFRecordWriter } from './tfrecord';
import { promptWords } from '../rahf/keywords';
import { FileFormatError, UserError } from '../errors';
import { Limits, checkLimit, limitsWith } from '../io/limits';
import { allInOrder } from '../util/settle';

/**
 * RichHF-18K TFRecord files (google-research/google-research `richhf_18k/`): one tf.train.Example per
 * image with the keys below. Scores are one float each, standardised to [0, 1]; heatmaps are encoded
 * single-channel PNGs (512×512 in the release); the misalignment label is space-separated 0/1 per
 * prompt word. Prompts are not in the release: they come from Pick-a-Pic (see pickapic.ts).
 */
export const SCORE_KEYS = ['aesthetics_score', 'artifact_score', 'misalignment_score', 'overall_score'] as const;
export const MAP_KEYS = ['artifact_map', 'misalignment_map'] as const;
export type ScoreKey = (typeof SCORE_KEYS)[number];
export type MapKey = (typeof MAP_KEYS)[number];

const SCORE_FIELD: Record<ScoreKey, 'aestheticsScore' | 'artifactScore' | 'misalignmentScore' | 'overallScore'> = {
  aesthetics_score: 'aestheticsScore',
  artifact_score: 'artifactScore',
  misalignment_score: 'misalignmentScore',
  overall_score: 'overallScore',
};
const MAP_FIELD: Record<MapKey, 'artifactMap' | 'misalignmentMap'> = {
  artifact_map: 'artifactMap',
  misalignment_map: 'misalignmentMap',
};

export interface ReadRichHFOptions {
  /**
   * What a score outside [0, 1] does: `error` (default) stops the read; `warn` keeps the record and
   * reports it through `onWarning`.
   */
  scoreRange?: 'error' | 'warn';
  /**
   * Prompts by image uid. When given, each record's label count is checked against the prompt's
   * word count (promptWords); a mismatch is a warning, not an error — the record is kept.
   */
  prompts?: ReadonlyMap<string, string>;
  /** Receives every warning (one line, naming file, record and key). */
  onWarning?: (warning: string) => void;
  /** Overrides of the limits in force (maxRecordBytes, maxMapPixels, maxMapPixelsAhead: io/limits.ts). */
  limits?: Partial<Limits>;
}

/** A decoded record and its position in the file. */
export interface IndexedRichHFRecord extends RichHFRecord {
  index: number;
}

/**
 * Streams a RichHF TFRecord file, decoding and validating each record. Errors name the file, the
 * record index and the key: missing key, wrong feature type, not exactly one score, score outside
 * [0, 1] (unless `scoreRange: 'warn'`), undecodable heatmap, malformed label.
 */
export async function* readRichHF(file: string, opts: ReadRichHFOptions = {}): AsyncGenerator<IndexedRichHFRecord> {
  // Heatmap PNGs decode on sharp's threads: records decode 16 ahead (yielded, and failing, in file order).
  // Loading a 2400-record training split: 28 s one at a time, 22 s with this (18 s with train/data.ts's too).
  // What is decoded ahead is bounded by pixels too (maxMapPixelsAhead): 16 records of 16000² maps are GBs.
  const limits = limitsWith(opts.limits);
  const budget = new PixelBudget(limits.maxMapPixelsAhead);
  const decoded = inOrderAhead(
    readTFRecords(file, { limits }),
    async ({ index, data }) => {
      const where = `${file}: record ${index}`;
      const rec = await decodeRichHFExample(data, where, { ...opts, limits }, budget);
      return { index, ...rec };
    },
    16,
  );
  for await (const r of decoded) {
    yield r;
    budget.release(mapPixels(r));
  }
}

function mapPixels(r: RichHFRecord): number {
  return r.artifactMap.width * r.artifactMap.height + r.misalignmentMap.width * r.misalignmentMap.height;
}

/**
 * Pixels of decoded maps held ahead of the consumer. Waiters are served in arrival (= file) order, and a
 * request larger than the whole budget passes when nothing else is held, so reading never deadlocks.
 */
class PixelBudget {
  private held = 0;
  private readonly waiting: Array<{ n: number; go: () => void }> = [];
  constructor(private readonly total: number) {}

  acquire(n: number): Promise<void> {
    if (this.waiting.length === 0 && this.fits(n)) {
      this.held += n;
      return Promise.resolve();
    }
    return new Promise((go) => this.waiting.push({ n, go }));
  }

  release(n: number): void {
    this.held -= n;
    while (this.waiting.length && this.fits(this.waiting[0].n)) {
      const w = this.waiting.shift()!;
      this.held += w.n;
      w.go();
    }
  }

  private fits(n: number): boolean {
    return this.held === 0 || this.held + n <= this.total;
  }
}

/** Reads a whole (small) file: records in order and the warnings raised on the way. */
export async function readRichHFAll(
  file: string,
  opts: ReadRichHFOptions = {},
): Promise<{ records: IndexedRichHFRecord[]; warnings: string[] }> {
  const warnings: string[] = [];
  const records: IndexedRichHFRecord[] = [];
  const onWarning = (w: string) => {
    warnings.push(w);
    opts.onWarning?.(w);
  };
  for await (const r of readRichHF(file, { ...opts, onWarning })) records.push(r);
  return { records, warnings };
}

/** Decodes one serialized Example; `where` prefixes error messages (e.g. "file: record 3"). */
export async function decodeRichHFExample(
  bytes: Uint8Array,
  where: string,
  opts: ReadRichHFOptions = {},
  budget?: { acquire(n: number): Promise<void>; release(n: number): void },
): Promise<RichHFRecord> {
  let ex: Example;
  try {
    ex = decodeExample(bytes);
  } catch (e) {
    throw new UserError(`${where}: not a tf.train.Example (${(e as Error).message})`);
  }
  const warn = (msg: string) => opts.onWarning?.(`${where}: ${msg}`);

  const filename = textOf(ex, 'filename', where);
  const label = textOf(ex, 'prompt_misalignment_label', where);
  const labels = parseLabels(label, `${where}: prompt_misalignment_label`);

  const scores = {} as Record<ScoreKey, number>;
  for (const key of SCORE_KEYS) {
    const f = expectKind(ex, key, 'float_list', where);
    if (f.value.length !== 1) throw new UserError(`${where}: ${key}: expected 1 value, found ${f.value.length}`);
    const v = f.value[0];
    if (!(v >= 0 && v <= 1)) {
      const msg = `${key}: ${v} is outside [0, 1]`;
      if (opts.scoreRange === 'warn' && Number.isFinite(v)) warn(msg);
      else throw new UserError(`${where}: ${msg}`);
    }
    scores[key] = v;
  }

  // Every synchronous check first: a throw after one decode had started would leave its rejection unhandled.
  const limits = limitsWith(opts.limits);
  const encoded = MAP_KEYS.map((key) => singleBytes(ex, key, where));
  const sizes = await allInOrder(MAP_KEYS.map((key, i) => grayMapPixels(encoded[i], `${where}: ${key}`, limits)));
  const pixels = sizes[0] + sizes[1];
  await budget?.acquire(pixels);
  let decoded: GrayMap[];
  try {
    decoded = await allInOrder(MAP_KEYS.map((key, i) => decodeGrayMap(encoded[i], `${where}: ${key}`, limits)));
  } catch (e) {
    budget?.release(pixels);
    throw e;
  }
  const maps = {} as Record<MapKey, GrayMap>;
  MAP_KEYS.forEach((key, i) => (maps[key] = decoded[i]));

  if (opts.prompts) {
    const uid = uidOf(filename);
    const prompt = opts.prompts.get(uid);
    if (prompt !== undefined) {
      const mismatch = labelMismatch(prompt, labels);
      if (mismatch) warn(`prompt_misalignment_label: ${mismatch}`);
    }
  }

  return {
    filename,
    aestheticsScore: scores.aesthetics_score,
    artifactScore: scores.artifact_score,
    misalignmentScore: scores.misalignment_score,
    overallScore: scores.overall_score,
    artifactMap: maps.artifact_map,
    misalignmentMap: maps.misalignment_map,
    promptMisalignmentLabel: label,
  };
}

/** "0 1 1" → [0, 1, 1]; anything but 0/1 tokens is an error naming `where`. Empty → []. */
export function parseLabels(label: string, where = 'prompt_misalignment_label'): number[] {
  const tokens = label.split(/\s+/).filter((t) => t.length > 0);
  return tokens.map((t, i) => {
    if (t !== '0' && t !== '1') throw new UserError(`${where}: token ${i} is "${t}", expected 0 or 1`);
    return t === '0' ? 0 : 1;
  });
}

/** Why `labels` do not fit `prompt` (one label per prompt word), or undefined when they do. */
export function labelMismatch(prompt: string, labels: ArrayLike<number>): string | undefined {
  const words = promptWords(prompt).length;
  return words === labels.length ? undefined : `${labels.length} labels for ${words} prompt words ("${prompt}")`;
}

/**
 * Writes records in the release's schema through the TFRecord writer (atomic: see TFRecordWriter);
 * heatmaps are stored as 8-bit grayscale PNG. Returns the count.
 */
export async function writeRichHF(
  file: string,
  records: Iterable<RichHFRecord> | AsyncIterable<RichHFRecord>,
): Promise<number> {
  const w = new TFRecordWriter(file);
  try {
    for await (const r of records) w.write(await encodeRichHFExample(r));
    w.close();
  } catch (e) {
    w.abort();
    throw e;
  }
  return w.written;
}

/** One record as a serialized tf.train.Example in the release's schema. */
export async function encodeRichHFExample(r: RichHFRecord): Promise<Uint8Array> {
  const ex: Example = new Map<string, Feature>();
  ex.set('filename', { kind: 'bytes_list', value: [Buffer.from(r.filename, 'utf8')] });
  for (const key of SCORE_KEYS) ex.set(key, { kind: 'float_list', value: Float32Array.of(r[SCORE_FIELD[key]]) });
  for (const key of MAP_KEYS) ex.set(key, { kind: 'bytes_list', value: [await encodeGrayMap(r[MAP_FIELD[key]])] });
  ex.set('prompt_misalignment_label', {
    kind: 'bytes_list',
    value: [Buffer.from(r.promptMisalignmentLabel, 'utf8')],
  });
  return encodeExample(ex);
}

/** Pixels of an encoded map, from its header; over `maxMapPixels` is a LimitError naming `where`. */
async function grayMapPixels(encoded: Uint8Array, where: string, limits: Readonly<Limits>): Promise<number> {
  let meta: Metadata;
  try {
    meta = await sharp(encoded, { limitInputPixels: false }).metadata();
  } catch (e) {
    throw new FileFormatError(where, `undecodable map (${oneLine((e as Error).message)})`);
  }
  const px = (meta.width ?? 0) * (meta.height ?? 0);
  if (!(px > 0)) throw new FileFormatError(where, `undecodable map (size ${meta.width ?? 0}x${meta.height ?? 0})`);
  checkLimit(where, `map size ${meta.width}x${meta.height} in pixels`, px, 'maxMapPixels', limits);
  return px;
}

/**
 * Decodes an encoded image (PNG in the release) to 8-bit grayscale. Maps over `maxMapPixels` (io/limits.ts)
 * are refused from their header, before decoding.
 */
export async function decodeGrayMap(encoded: Uint8Array, where = 'map', limits: Partial<Limits> = {}): Promise<GrayMap> {
  const lim = limitsWith(limits);
  await grayMapPixels(encoded, where, lim);
  try {
    const { data, info } = await sharp(encoded, { failOn: 'truncated', limitInputPixels: lim.maxMapPixels })
      .grayscale()
      .removeAlpha()
      .raw({ depth: 'uchar' })
      .toBuffer({ resolveWithObject: true });
    if (info.channels !== 1) throw new UserError(`${info.channels} channels after grayscale conversion`);
    return { width: info.width, height: info.height, data: new Uint8Array(data.buffer, data.byteOffset, data.length) };
  } catch (e) {
    throw new FileFormatError(where, `undecodable map (${oneLine((e as Error).message)})`);
  }
}

function oneLine(s: string): string {
  return s.split('\n').map((l) => l.trim()).filter(Boolean).join('; ').slice(0, 200);
}

/** Lossless single-channel 8-bit PNG. */
export async function encodeGrayMap(map: GrayMap): Promise<Uint8Array> {
  if (map.data.length !== map.width * map.height) {
    throw new UserError(`map: ${map.data.length} bytes for ${map.width}x${map.height}`);
  }
  return sharp(map.data, { raw: { width: map.width, height: map.height, channels: 1 } })
    .png({ compressionLevel: 6 })
    .toBuffer();
}

function expectKind<K extends FeatureKind>(
  ex: Example,
  key: string,
  kind: K,
  where: string,
): Extract<Feature, { kind: K }> {
  const f = ex.get(key);
  if (!f) throw new UserError(`${where}: missing key ${key}`);
  if (f.kind !== kind) {
    const found = f.kind === 'none' ? 'an empty Feature' : f.kind;
    throw new UserError(`${where}: ${key}: expected ${kind}, found ${found}`);
  }
  return f as Extract<Feature, { kind: K }>;
}

function singleBytes(ex: Example, key: string, where: string): Uint8Array {
  const f = expectKind(ex, key, 'bytes_list', where);
  if (f.value.length !== 1) throw new UserError(`${where}: ${key}: expected 1 value, found ${f.value.length}`);
  return f.value[0];
}

function textOf(ex: Example, key: string, where: string): string {
  return Buffer.from(singleBytes(ex, key, where)).toString('utf8');
}
