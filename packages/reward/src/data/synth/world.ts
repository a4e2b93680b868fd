/**
 * The synthetic RichHF world: procedurally rendered scenes from a prompt grammar, with misalignments and
 * artifacts injected at known places, labelled by simulated annotators and consolidated exactly like
 * real raw annotations. Everything is a pure function of (seed, index, options), so a world is
 * reproducible byte for byte and example i does not depend on how many examples are generated.
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
import { annotate, annotatorPool, type AnnotatorProfile, type Latent, type Region } from './annotators';
import { applyPixelArtifacts, drawDuplicates, planArtifacts, planMisalignment, type Artifact, type Depiction } from './defects';
import { COLOURS, samplePrompt, type Background, type ColourName, type Kind, type Position, type PromptSpec } from './grammar';
import { boxArea, Canvas, type Box } from './canvas';
import { drawObject, objectBox, type PlacedObject } from './objects';
import { applyGrade, drawBackground, gradeQuality, type Grade } from './render';
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

/** Exact latent truth of one example (a line of truth.jsonl). */
export interface SynthTruth {
  uid: string;
  split: Split;
  caption: string;
  words: string[];
  width: number;
  height: number;
  background: { prompt: Background; depicted: Background; named: boolean };
  objects: Array<{ group: number; kind: Kind; colour: ColourName; box: Box }>;
  artifacts: Array<{ type: Artifact['type']; box: Box; severity: number; object?: number }>;
  misalignments: Array<{ type: string; group?: number; words: number[]; boxes: Box[]; depicted?: string }>;
  /** Exact per-word labels, 0 = misaligned (promptWords(caption) order). */
  labels: number[];
  latent: Latent;
  aestheticsTerms: Record<string, number>;
  grade: Grade;
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
// Layout

/** Allowed object-centre ranges as fractions of the image: [x0, x1, y0, y1]. */
const REGION: Record<Position | 'any', [number, number, number, number]> = {
  left: [0.06, 0.4, 0.22, 0.78],
  right: [0.6, 0.94, 0.22, 0.78],
  top: [0.22, 0.78, 0.06, 0.4],
  bottom: [0.22, 0.78, 0.6, 0.94],
  center: [0.36, 0.64, 0.36, 0.64],
  any: [0.12, 0.88, 0.15, 0.85],
};

function overlap(a: Box, b: Box): number {
  const w = Math.min(a[2], b[2]) - Math.max(a[0], b[0]);
  const h = Math.min(a[3], b[3]) - Math.max(a[1], b[1]);
  if (w <= 0 || h <= 0) return 0;
  return (w * h) / Math.max(1, Math.min(boxArea(a), boxArea(b)));
}

function layout(rng: Rng, dep: Depiction, W: number, H: number): PlacedObject[] {
  const placed: PlacedObject[] = [];
  const nGroups = dep.groups.filter((g) => g.colours.length > 0).length;
  dep.groups.forEach((g, gi) => {
    const n = g.colours.length;
    const [rx0, rx1, ry0, ry1] = REGION[g.position ?? 'any'];
    g.colours.forEach((colour) => {
      const s = W * (n === 1 ? rng.uniform(0.11, 0.18) : n === 2 ? rng.uniform(0.085, 0.13) : rng.uniform(0.065, 0.1)) * (nGroups > 1 ? 0.85 : 1);
      const base = COLOURS[colour];
      const rgb = base.map((v) => Math.min(255, Math.max(0, v + rng.uniform(-12, 12))) / 255);
      const flip = rng.chance(0.5);
      let best: PlacedObject | undefined;
      let bestCost = Infinity;
      for (let t = 0; t < 30 && bestCost > 0.05; t++) {
        const cx = rng.uniform(rx0, rx1) * W;
        const cy = rng.uniform(ry0, ry1) * H;
        const o0 = { group: gi, kind: g.kind, colour, rgb, cx, cy, s, flip };
        const box = objectBox(o0, W, H);
        // Penalise overlap with placed objects and parts cut off by the image border.
        const full = objectBox(o0, Infinity, Infinity);
        const cut = 1 - boxArea(box) / Math.max(1, boxArea(full));
        const cost = placed.reduce((m, p) => Math.max(m, overlap(box, p.box)), 0) + 2 * cut;
        if (cost < bestCost) {
          bestCost = cost;
          best = { ...o0, box };
        }
      }
      placed.push(best!);
    });
  });
  return placed;
}

// ---------------------------------------------------------------------------------------------------
// Latent quality

function hueSat(c: readonly number[]): [number, number] {
  const max = Math.max(...c);
  const min = Math.min(...c);
  const sat = max > 0 ? (max - min) / max : 0;
  if (max === min) return [0, 0];
  let h: number;
  if (max === c[0]) h = ((c[1] - c[2]) / (max - min)) % 6;
  else if (max === c[1]) h = (c[2] - c[0]) / (max - min) + 2;
  else h = (c[0] - c[1]) / (max - min) + 4;
  return [(h * 60 + 360) % 360, sat];
}

/** Colour harmony of the object colours: analogous or complementary hues are pleasant, others clash. */
function harmony(objects: ReadonlyArray<PlacedObject>): number {
  const names = [...new Set(objects.map((o) => o.colour))];
  const hues = names.map((n) => hueSat(COLOURS[n].map((v) => v / 255))).filter(([, s]) => s > 0.3).map(([h]) => h);
  let score = 0.8;
  if (hues.length >= 2) {
    let sum = 0;
    let pairs = 0;
    for (let i = 0; i < hues.length; i++) {
      for (let j = i + 1; j < hues.length; j++) {
        const d = Math.min(Math.abs(hues[i] - hues[j]), 360 - Math.abs(hues[i] - hues[j]));
        sum += d < 40 ? 1 : d > 150 ? 0.85 : 0.15;
        pairs++;
      }
    }
    score = sum / pairs;
  }
  return Math.max(0, score - 0.2 * Math.max(0, names.length - 2));
}

function aestheticsOf(
  objects: ReadonlyArray<PlacedObject>,
  bgCanvas: Canvas,
  beauty: number,
  grade: Grade,
  artifacts: ReadonlyArray<Artifact>,
  W: number,
  H: number,
): { value: number; terms: Record<string, number> } {
  let contrast = 0.2;
  let balance = 0.2;
  let coverage = 0;
  if (objects.length > 0) {
    contrast = objects.reduce((s, o) => {
      const bg = bgCanvas.get(o.cx, o.cy);
      const d = Math.hypot(bg[0] - o.rgb[0], bg[1] - o.rgb[1], bg[2] - o.rgb[2]) / Math.sqrt(3);
      return s + Math.min(1, d / 0.35);
    }, 0) / objects.length;
    let ax = 0;
    let ay = 0;
    let area = 0;
    for (const o of objects) {
      const a = boxArea(o.box);
      ax += a * (o.box[0] + o.box[2]) / 2;
      ay += a * (o.box[1] + o.box[3]) / 2;
      area += a;
    }
    const off = Math.hypot(ax / area - W / 2, ay / area - H / 2) / (0.5 * W);
    balance = 1 - Math.min(1, 1.6 * off);
    const f = area / (W * H);
    coverage = f < 0.08 ? f / 0.08 : f > 0.35 ? Math.max(0, 1 - (f - 0.35) / 0.3) : 1;
  }
  const terms = {
    grade: gradeQuality(grade),
    background: beauty,
    contrast,
    harmony: objects.length > 0 ? harmony(objects) : 0.5,
    balance,
    coverage,
    artifacts: artifacts.reduce((s, a) => s + a.severity, 0),
  };
  const raw =
    0.3 * terms.grade + 0.2 * terms.background + 0.15 * terms.contrast + 0.12 * terms.harmony +
    0.11 * terms.balance + 0.12 * terms.coverage - 0.35 * terms.artifacts;
  // Stretch the weighted mean (which concentrates around 0.5) to use the whole scale.
  const value = Math.min(1, Math.max(0, 0.5 + 2 * (raw - 0.5)));
  return { value, terms: Object.fromEntries(Object.entries(terms).map(([k, v]) => [k, round4(v)])) };
}

const round4 = (v: number) => Math.round(v * 1e4) / 1e4;

// ---------------------------------------------------------------------------------------------------
// One example

/** Generate example `index` of the world; `pool` defaults to the world's annotator pool. */
export function generateExample(opts: WorldOptions, index: number, pool?: ReadonlyArray<AnnotatorProfile>): SynthExample {
  const W = opts.size ?? 128;
  const H = W;
  const seed = opts.seed;
  const uid = uidFor(seed, index);
  const split = splitOf(index);
  const prompt: PromptSpec = samplePrompt(new Rng(seed, opts.prompts ? index % opts.prompts : index, 'prompt'));
  const dep = planMisalignment(new Rng(seed, index, 'misalign'), prompt);
  const objects = layout(new Rng(seed, index, 'layout'), dep, W, H);

  const renderRng = new Rng(seed, index, 'render');
  const cv = new Canvas(W, H);
  const { beauty } = drawBackground(cv, dep.background, renderRng);
  const bgCanvas = cv.clone();
  for (const o of objects) drawObject(cv, o);
  const artifacts = planArtifacts(new Rng(seed, index, 'artifacts'), objects, W, H, cv);
  drawDuplicates(cv, artifacts);
  const grade: Grade = {
    saturation: renderRng.uniform(0.35, 1.15),
    exposure: Math.max(-0.25, Math.min(0.25, renderRng.normal(0, 0.1))),
    contrast: renderRng.uniform(0.7, 1.2),
  };
  applyGrade(cv, grade);
  applyPixelArtifacts(cv, artifacts);

  // Misaligned regions: the depicted objects an edit points at (object order = group order in layout).
  const groupObjects = (g: number) => objects.filter((o) => o.group === g);
  const misalignments = dep.edits.map((e) => ({
    type: e.type,
    group: e.group,
    words: e.words,
    boxes: e.group === undefined ? [] : e.regionObjects.map((i) => groupObjects(e.group!)[i].box),
    depicted: e.depicted,
  }));
  const misWords = [...new Set(dep.edits.flatMap((e) => e.words))].sort((a, b) => a - b);
  const labels = prompt.words.map((_, i) => (misWords.includes(i) ? 0 : 1));

  const sev = artifacts.reduce((s, a) => s + a.severity, 0);
  const plausibility = Math.max(0, 1 - sev);
  const alignment = Math.max(0, 1 - dep.edits.reduce((s, e) => s + e.weight, 0));
  const aes = aestheticsOf(objects, bgCanvas, beauty, grade, artifacts, W, H);
  const latent: Latent = {
    plausibility: round4(plausibility),
    alignment: round4(alignment),
    aesthetics: round4(aes.value),
    overall: round4(0.4 * plausibility + 0.35 * alignment + 0.25 * aes.value),
  };

  const contentWords = prompt.words.flatMap((w, i) => (w.role === 'filler' ? [] : [i]));
  const raw = annotate(new Rng(seed, index, 'annotate'), pool ?? annotatorPool(seed, opts.noise ?? 1), {
    uid,
    caption: prompt.caption,
    width: W,
    height: H,
    latent,
    artifactRegions: artifacts.map((a): Region => ({ box: a.box, severity: a.severity })),
    misalignmentRegions: misalignments.flatMap((m) => m.boxes.map((box): Region => ({ box }))),
    misalignedWords: misWords,
    contentWords,
  });

  const truth: SynthTruth = {
    uid,
    split,
    caption: prompt.caption,
    words: prompt.words.map((w) => w.text),
    width: W,
    height: H,
    background: { prompt: prompt.background, depicted: dep.background, named: prompt.backgroundWord !== undefined },
    objects: objects.map((o) => ({ group: o.group, kind: o.kind, colour: o.colour, box: o.box })),
    artifacts: artifacts.map((a) => ({ type: a.type, box: a.box, severity: round4(a.severity), object: a.object })),
    misalignments,
    labels,
    latent,
    aestheticsTerms: aes.terms,
    grade: { saturation: round4(grade.saturation), exposure: round4(grade.exposure), contrast: round4(grade.contrast) },
  };
  return { uid, index, split, caption: prompt.caption, width: W, height: H, rgb: cv.toBytes(), truth, raw };
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
