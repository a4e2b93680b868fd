/**
 * Evaluation sets: RichHF-18K-format TFRecords joined with their images and prompts.
 *
 * Two layouts are accepted:
 * - a data folder `D` holding `<split>.tfrecord` — a synthetic world (`rahf synth`: images/, captions.jsonl,
 *   train.tfrecord beside it) or the RichHF-18K release folder ({train,dev,test}.tfrecord) with images
 *   from `--images` / `--parquet`;
 * - a single `.tfrecord` file, whose images come from `--images <folder>` and/or `--parquet <files>`.
 * Prompts: `--captions <jsonl>` first, then `D/captions.jsonl`, then the image source's caption (parquet
 * `caption` column or `<uid>.txt`). Records without an image or a prompt are counted and reported,
 * never fatal; only an evaluation left with no sample at all is an error.
 *
 * Records are streamed twice: a cheap first pass reads only `filename` (to know which images to join),
 * `samples()` then decodes the full records one at a time, so the 512×512 ground-truth maps of a large
 * set are never all in memory.
 */
import * as fs from 'fs';
import * as path from 'path';
import { decodeExample } from '../data/example-proto';
import { JoinedImage, joinImages } from '../data/pickapic';
import { IndexedRichHFRecord, parseLabels, readRichHF } from '../data/richhf';
import { uidOf } from '../data/record';
import { readTFRecords } from '../data/tfrecord';
import { readJsonlMap } from '../data/jsonl';
import { UserError } from '../errors';
import { promptWords } from '../rahf/keywords';
import { RgbImage, loadImage } from '../image';

export interface DatasetOptions {
  /** A data folder holding `<split>.tfrecord`, or a RichHF `.tfrecord` file. */
  data: string;
  /** Which `<split>.tfrecord` of a data folder to evaluate (default "test"). */
  split?: string;
  /** Folder of `<uid>.<ext>` images (optional `<uid>.txt` captions). Default for folders: `D/images`. */
  images?: string;
  /** Pick-a-Pic-shaped parquet files holding the images and captions. */
  parquet?: string[];
  /** JSONL of `{"uid", "caption"}` (extra keys ignored). Default for folders: `D/captions.jsonl`. */
  captions?: string;
  /** Train TFRecord for the constant baseline. Default for folders: `D/train.tfrecord`. */
  train?: string;
  /** Evaluate only the first N usable records. */
  limit?: number;
}

/** One evaluation sample: the decoded record, its prompt and the encoded image. */
export interface EvalSample {
  uid: string;
  caption: string;
  image: Uint8Array;
  imageSource: string;
  record: IndexedRichHFRecord;
}

/** The sample's image, decoded as every consumer of a dataset reads it (src/image.ts: PIL-exact, 8-bit). */
export function decodeSampleImage(s: EvalSample): Promise<RgbImage> {
  return loadImage(Buffer.from(s.image.buffer, s.image.byteOffset, s.image.byteLength), s.imageSource);
}

export interface EvalDataset {
  /** The TFRecord evaluated. */
  recordsFile: string;
  /** Train TFRecord for the constant baseline, when there is one. */
  trainFile?: string;
  /** Where images and prompts were looked up (for messages). */
  sources: string[];
  /** Records in the file. */
  totalRecords: number;
  /** Samples that will be evaluated (records with an image and a prompt, after --limit). */
  size: number;
  /** uids without an image (sorted). */
  missingImages: string[];
  /** uids with an image but no prompt (sorted). */
  missingCaptions: string[];
  /** Decoded samples in file order; each call re-reads the file. Reader warnings go to `warnings`. */
  samples(): AsyncGenerator<EvalSample>;
  /** Warnings raised while reading (label/prompt length mismatches, …); grows as samples() runs. */
  warnings: string[];
}

function isFile(p: string): boolean {
  return fs.existsSync(p) && fs.statSync(p).isFile();
}

function isDir(p: string): boolean {
  return fs.existsSync(p) && fs.statSync(p).isDirectory();
}

/** `{uid, caption}` per line → map (the first caption of a uid wins). Errors name the file and line. */
export function readCaptionsJsonl(file: string): Map<string, string> {
  return readJsonlMap(file, 'captions', 'uid', 'caption');
}

/** uids of a RichHF TFRecord in file order, reading only `filename` (no heatmap decoding). */
async function recordUids(file: string): Promise<string[]> {
  const uids: string[] = [];
  for await (const { index, data } of readTFRecords(file)) {
    let fname: string | undefined;
    try {
      const f = decodeExample(data).get('filename');
      if (f?.kind === 'bytes_list' && f.value.length === 1) fname = Buffer.from(f.value[0]).toString('utf8');
    } catch (e) {
      throw new Error(`${file}: record ${index}: not a tf.train.Example (${(e as Error).message})`);
    }
    if (fname === undefined) throw new Error(`${file}: record ${index}: missing key filename (or not one bytes value)`);
    uids.push(uidOf(fname));
  }
  return uids;
}

interface Layout {
  records: string;
  images?: string;
  parquet: string[];
  captions?: string;
  train?: string;
}

/** Where everything is, from the options; one-line UserErrors for what is missing. */
export function resolveLayout(opts: DatasetOptions): Layout {
  const split = opts.split ?? 'test';
  if (!fs.existsSync(opts.data)) throw new UserError(`${opts.data}: no such file or directory`);
  for (const p of opts.parquet ?? []) if (!isFile(p)) throw new UserError(`${p}: no such parquet file`);
  if (opts.images !== undefined && !isDir(opts.images)) throw new UserError(`${opts.images}: no such image folder`);
  if (opts.captions !== undefined && !isFile(opts.captions)) throw new UserError(`${opts.captions}: no such captions file`);
  if (opts.train !== undefined && !isFile(opts.train)) throw new UserError(`${opts.train}: no such train TFRecord`);
  const parquet = opts.parquet ?? [];
  if (isDir(opts.data)) {
    const records = path.join(opts.data, `${split}.tfrecord`);
    if (!isFile(records)) {
      throw new UserError(
        `${opts.data}: no ${split}.tfrecord (a data folder holds <split>.tfrecord, e.g. a synthetic world from rahf synth; or pass a .tfrecord file)`,
      );
    }
    const imgDir = path.join(opts.data, 'images');
    const images = opts.images ?? (isDir(imgDir) ? imgDir : undefined);
    if (images === undefined && parquet.length === 0) {
      throw new UserError(`${opts.data}: no images/ folder; pass --images <folder> or --parquet <files>`);
    }
    const capFile = path.join(opts.data, 'captions.jsonl');
    const trainFile = path.join(opts.data, 'train.tfrecord');
    return {
      records,
      images,
      parquet,
      captions: opts.captions ?? (isFile(capFile) ? capFile : undefined),
      train: opts.train ?? (isFile(trainFile) ? trainFile : undefined),
    };
  }
  if (opts.images === undefined && parquet.length === 0) {
    throw new UserError(`${opts.data}: a TFRecord file needs --images <folder> and/or --parquet <files> for its images`);
  }
  return { records: opts.data, images: opts.images, parquet, captions: opts.captions, train: opts.train };
}

/**
 * Opens an evaluation set: resolves the layout, lists the records' uids, joins images and prompts.
 * Throws UserError when no record can be evaluated.
 */
export async function openEvalDataset(opts: DatasetOptions): Promise<EvalDataset> {
  const layout = resolveLayout(opts);
  let uids: string[];
  try {
    uids = await recordUids(layout.records);
  } catch (e) {
    throw new UserError((e as Error).message.split('\n')[0]);
  }
  if (uids.length === 0) throw new UserError(`${layout.records}: no records`);
  let joined: Map<string, JoinedImage>;
  try {
    joined = (await joinImages(new Set(uids), { folder: layout.images, parquet: layout.parquet })).images;
  } catch (e) {
    throw new UserError((e as Error).message.split('\n')[0]);
  }
  const captionFile = layout.captions ? readCaptionsJsonl(layout.captions) : new Map<string, string>();
  const sources = [
    ...(layout.images ? [layout.images] : []),
    ...layout.parquet,
    ...(layout.captions ? [layout.captions] : []),
  ];

  const missingImages: string[] = [];
  const missingCaptions: string[] = [];
  const use = new Map<string, { caption: string; image: JoinedImage }>();
  for (const uid of uids) {
    if (use.has(uid)) continue;
    const image = joined.get(uid);
    if (!image) {
      missingImages.push(uid);
      continue;
    }
    const caption = captionFile.get(uid) ?? image.caption;
    if (caption === undefined || !caption.trim()) {
      missingCaptions.push(uid);
      continue;
    }
    if (opts.limit !== undefined && use.size >= opts.limit) continue;
    use.set(uid, { caption, image });
  }
  if (use.size === 0) {
    if (missingImages.length === uids.length) {
      throw new UserError(`${layout.records}: none of its ${uids.length} records has an image (looked in ${sources.join(', ') || 'nothing'})`);
    }
    throw new UserError(`${layout.records}: no record has both an image and a prompt (${missingCaptions.length} without a prompt; give --captions <jsonl>)`);
  }

  const warnings: string[] = [];
  const prompts = new Map([...use].map(([uid, u]) => [uid, u.caption]));
  const records = layout.records;
  async function* samples(): AsyncGenerator<EvalSample> {
    const seen = new Set<string>();
    // Scores outside [0, 1] are kept with a warning: an evaluation should report, not refuse, odd labels.
    for await (const record of readRichHF(records, { prompts, scoreRange: 'warn', onWarning: (w) => warnings.push(w) })) {
      const uid = uidOf(record.filename);
      const u = use.get(uid);
      if (!u || seen.has(uid)) continue;
      seen.add(uid);
      yield { uid, caption: u.caption, image: u.image.bytes, imageSource: u.image.source, record };
    }
  }
  return {
    recordsFile: layout.records,
    trainFile: layout.train,
    sources,
    totalRecords: uids.length,
    size: use.size,
    missingImages: missingImages.sort(),
    missingCaptions: missingCaptions.sort(),
    samples,
    warnings,
  };
}

/**
 * Ground-truth misaligned words of a record: prompt words whose label is 0. A label/word count mismatch
 * (reported by the reader) pairs words and labels positionally up to the shorter of the two.
 */
export function groundTruthWords(caption: string, label: string): string[] {
  const words = promptWords(caption);
  const labels = parseLabels(label);
  const out: string[] = [];
  for (let i = 0; i < Math.min(words.length, labels.length); i++) if (labels[i] === 0) out.push(words[i]);
  return out;
}
