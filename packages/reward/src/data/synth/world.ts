/**
 * The synthetic RichHF world: procedurally rendered scenes from a prompt grammar, with misalignments and
 * artifacts injected at known places, labelled by simulated annotators and consolidated exactly like
 * real raw annotations. Everything is a pure function of (seed, index, options), so a world is
 * reproducible byte for byte and example i does not depend on how many examples are generated.
 * An example is a sampled scene rendered with its truth (scene.ts), plus the annotators' raw labels.
 * Layout on disk: docs/synthetic-world.md.
 */
import * as fs from 'fs';
import * as path from 'path';
import sharp from 'sharp';
import { consolidateImage, rawAnnotationLine, type RawAnnotation } from '../consolidate';
import type { RichHFRecord } from '../record';
import { encodeRichHFExample } from '../richhf';
import { TFRecordWriter } from '../tfrecord';
import { Progress } from '../../util/progress';
import { writeFileAtomic } from '../../util/atomic';
import { annotate, annotatorPool, type AnnotatorProfile, type Region } from './annotators';
import { finishScene, sampleSceneDrawn, type SceneTruth } from './scene';
import { Rng } from './rng';

export type Split = 'train' | 'dev' | 'test';
export const SPLITS: readonly Split[] = ['train', 'dev', 'test'];

export interface WorldOptions {
  seed: number;
  /** Image side in pixels (square images). Default 128. */
  size?: number;
  /** Annotator imperfection scale: 0 = perfect annotators, 1 = default. */
  noise?: number;
  /** Heatmap side in the consolidated records. Default: the image size. */
  mapSize?: number;
  /**
   * Distinct prompts: example i is drawn for the prompt of example `i mod prompts` (its layout, defects and
   * grade stay its own), so each prompt gets several renderings — a text-conditional set. Default: every
   * example its own prompt.
   */
  prompts?: number;
}

/** Exact latent truth of one example (a line of truth.jsonl): the rendered scene's truth with its uid and split. */
export interface SynthTruth extends SceneTruth {
  uid: string;
  split: Split;
}

export interface SynthExample {
  uid: string;
  index: number;
  split: Split;
  caption: string;
  width: number;
  height: number;
  /** HWC 8-bit RGB. */
  rgb: Uint8Array;
  truth: SynthTruth;
  raw: RawAnnotation[];
}

export function splitOf(index: number): Split {
  const r = index % 10;
  return r < 8 ? 'train' : r === 8 ? 'dev' : 'test';
}

export function uidFor(seed: number, index: number): string {
  return `synth-${seed}-${String(index).padStart(6, '0')}`;
}

// ---------------------------------------------------------------------------------------------------
// One example

/** Generate example `index` of the world; `pool` defaults to the world's annotator pool. */
export function generateExample(opts: WorldOptions, index: number, pool?: ReadonlyArray<AnnotatorProfile>): SynthExample {
  const uid = uidFor(opts.seed, index);
  const split = splitOf(index);
  const { sampled, base } = sampleSceneDrawn(opts, index);
  const { prompt, depiction, scene } = sampled;
  const { rgb, truth: t } = finishScene(scene, prompt, base, depiction.edits);
  const misWords = t.labels.flatMap((l, i) => (l === 0 ? [i] : []));
  const contentWords = prompt.words.flatMap((w, i) => (w.role === 'filler' ? [] : [i]));
  const { width: W, height: H } = scene;
  const raw = annotate(new Rng(opts.seed, index, 'annotate'), pool ?? annotatorPool(opts.seed, opts.noise ?? 1), {
    uid,
    caption: prompt.caption,
    width: W,
    height: H,
    latent: t.latent,
    artifactRegions: scene.artifacts.map((a): Region => ({ box: a.box, severity: a.severity })),
    misalignmentRegions: t.misalignments.flatMap((m) => m.boxes.map((box): Region => ({ box }))),
    misalignedWords: misWords,
    contentWords,
  });
  const truth: SynthTruth = { uid, split, ...t };
  return { uid, index, split, caption: prompt.caption, width: W, height: H, rgb, truth, raw };
}

export async function encodePng(rgb: Uint8Array, width: number, height: number): Promise<Buffer> {
  return sharp(rgb, { raw: { width, height, channels: 3 } }).png({ compressionLevel: 6 }).toBuffer();
}

// ---------------------------------------------------------------------------------------------------
// Writing a world

/** Lines to `<file>.tmp-<pid>`, renamed into place on close (readers never see a partial file). */
class AtomicLines {
  private fd: number | undefined;
  private readonly tmp: string;
  private buf: string[] = [];
  constructor(readonly file: string) {
    this.tmp = `${file}.tmp-${process.pid}`;
    this.fd = fs.openSync(this.tmp, 'w');
  }
  write(line: string): void {
    this.buf.push(line);
    if (this.buf.length >= 256) this.flush();
  }
  private flush(): void {
    if (this.buf.length > 0 && this.fd !== undefined) fs.writeSync(this.fd, this.buf.join('\n') + '\n');
    this.buf = [];
  }
  close(): void {
    this.flush();
    if (this.fd === undefined) return;
    fs.fsyncSync(this.fd);
    fs.closeSync(this.fd);
    this.fd = undefined;
    fs.renameSync(this.tmp, this.file);
  }
  abort(): void {
    if (this.fd !== undefined) fs.closeSync(this.fd);
    this.fd = undefined;
    fs.rmSync(this.tmp, { force: true });
  }
}

export interface WriteWorldOptions extends WorldOptions {
  out: string;
  n: number;
  /** Progress line on stderr (default true). */
  progress?: boolean;
}

export interface WorldSummary {
  out: string;
  counts: Record<Split, number>;
  seconds: number;
}

export const WORLD_MANIFEST = 'world.json';
const WORLD_VERSION = 1;

/**
 * Generate `n` examples into `out`: {train,dev,test}.tfrecord, images/<uid>.png, captions.jsonl,
 * truth.jsonl, raw_annotations.jsonl and world.json. Every file is written to a temp name and renamed.
 */
export async function writeSynthWorld(opts: WriteWorldOptions): Promise<WorldSummary> {
  const start = Date.now();
  const W = opts.size ?? 128;
  const mapSize = opts.mapSize ?? W;
  const imgDir = path.join(opts.out, 'images');
  fs.mkdirSync(imgDir, { recursive: true });
  const pool = annotatorPool(opts.seed, opts.noise ?? 1);
  const writers = Object.fromEntries(SPLITS.map((s) => [s, new TFRecordWriter(path.join(opts.out, `${s}.tfrecord`))])) as Record<Split, TFRecordWriter>;
  const lines = {
    captions: new AtomicLines(path.join(opts.out, 'captions.jsonl')),
    truth: new AtomicLines(path.join(opts.out, 'truth.jsonl')),
    raw: new AtomicLines(path.join(opts.out, 'raw_annotations.jsonl')),
  };
  const progress = new Progress(opts.n, 'synth', { enabled: opts.progress !== false, unit: 'img' });
  const counts: Record<Split, number> = { train: 0, dev: 0, test: 0 };
  const uids = new Set<string>();
  const CHUNK = 16;
  // Pipeline: PNG/Example encoding of one chunk (sharp, on libuv threads) overlaps generating the next.
  let pending: Promise<void> = Promise.resolve();
  try {
    for (let i0 = 0; i0 < opts.n; i0 += CHUNK) {
      const batch: SynthExample[] = [];
      for (let i = i0; i < Math.min(opts.n, i0 + CHUNK); i++) batch.push(generateExample(opts, i, pool));
      const records: RichHFRecord[] = batch.map((ex) => consolidateImage(ex.raw, { mapSize }).record);
      const encoding = Promise.all([
        Promise.all(batch.map((ex) => encodePng(ex.rgb, ex.width, ex.height))),
        Promise.all(records.map((r) => encodeRichHFExample(r))),
      ]);
      encoding.catch(() => undefined); // handled when awaited below; avoids an early unhandled-rejection report
      await pending;
      pending = encoding.then(([pngs, encoded]) => {
        // Written in index order, so files are identical whatever the timing.
        batch.forEach((ex, k) => {
          const file = path.join(imgDir, `${ex.uid}.png`);
          const tmp = `${file}.tmp-${process.pid}`;
          fs.writeFileSync(tmp, pngs[k]);
          fs.renameSync(tmp, file);
          writers[ex.split].write(encoded[k]);
          counts[ex.split]++;
          uids.add(ex.uid);
          lines.captions.write(JSON.stringify({ uid: ex.uid, caption: ex.caption, split: ex.split }));
          lines.truth.write(JSON.stringify(ex.truth));
          for (const r of ex.raw) lines.raw.write(rawAnnotationLine(r));
        });
        progress.tick(batch.length);
      });
      pending.catch(() => undefined);
    }
    await pending;
    for (const w of Object.values(writers)) w.close();
    for (const l of Object.values(lines)) l.close();
  } catch (e) {
    await pending.catch(() => undefined); // let an in-flight chunk finish before its files go away
    for (const w of Object.values(writers)) w.abort();
    for (const l of Object.values(lines)) l.abort();
    throw e;
  }
  // Images of an earlier, larger world in the same folder would not match the records: remove them.
  for (const f of fs.readdirSync(imgDir)) {
    if (f.endsWith('.png') && !uids.has(f.slice(0, -4))) fs.rmSync(path.join(imgDir, f));
  }
  const seconds = (Date.now() - start) / 1000;
  writeFileAtomic(
    path.join(opts.out, WORLD_MANIFEST),
    JSON.stringify({ version: WORLD_VERSION, seed: opts.seed, n: opts.n, size: W, mapSize, noise: opts.noise ?? 1, counts }, null, 2) + '\n',
  );
  return { out: opts.out, counts, seconds };
}
