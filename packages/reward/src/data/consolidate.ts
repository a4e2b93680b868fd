/**
 * Consolidation of per-annotator rich feedback into RichHF-18K fields (Liang et al., CVPR 2024, §3.2).
 *
 * Input: one raw annotation per (image, annotator) — the JSONL format documented in
 * docs/raw-annotations.md. Output per image uid:
 * - heatmaps: every annotated point is a disk of radius image-height/20 (value 1 inside); one annotator's
 *   map is the UNION of their disks (overlaps saturate at 1, so a pixel's consolidated value is the
 *   fraction of annotators who marked it); maps are averaged over annotators, sampled on the output
 *   grid (default 512×512) and scaled to 0–255;
 * - scores: Likert 1–5 averaged over annotators, then (s−1)/4 → [0,1];
 * - per-word misalignment: strict majority vote over annotators (a tie keeps the word aligned), written
 *   as the space-separated `prompt_misalignment_label` with 0 = misaligned.
 */
import { promptWords } from '../rahf/keywords';
import type { GrayMap, RichHFRecord } from './record';
import { parseJsonl } from './jsonl';
import { readRegularText } from '../io/files';
import { UserError } from '../errors';

/** One annotator's feedback on one image (a line of the raw JSONL). Pixel coordinates, origin top-left. */
export interface RawAnnotation {
  uid: string;
  prompt: string;
  annotator: string;
  width: number;
  height: number;
  /** Points on implausible/artifact regions, [x, y] in image pixels (0 ≤ x ≤ width, 0 ≤ y ≤ height). */
  artifact_points: Array<[number, number]>;
  /** Points on image regions that contradict the prompt. */
  misalignment_points: Array<[number, number]>;
  /** Likert 1–5, higher is better (5 = no artifacts, fully aligned, beautiful). */
  plausibility: number;
  alignment: number;
  aesthetics: number;
  overall: number;
  /** Indices into promptWords(prompt) of words the image gets wrong. */
  misaligned_words: number[];
  /** Optional `filename` for the RichHF record (default `<uid>.png`). */
  filename?: string;
  /** Free-form metadata, carried through untouched (ignored by consolidation). */
  meta?: unknown;
  /** "file:line" of the source line, set by the parser for error messages (not part of the format). */
  where?: string;
}

/** A problem with the raw annotations; the message names the file and line. */
export class AnnotationError extends UserError {
  constructor(message: string) {
    super(message);
    this.name = 'AnnotationError';
  }
}

export interface ConsolidateOptions {
  /** Output map size: one number for square maps, or [width, height]. Default 512 (the RichHF release). */
  mapSize?: number | [number, number];
  /** Disk radius as a fraction of the image height (paper: 1/20). */
  radiusFraction?: number;
}

export interface Consolidated {
  uid: string;
  /** The prompt; the caption sidecar's `caption`. */
  caption: string;
  annotators: number;
  record: RichHFRecord;
}

const SCORE_KEYS = ['plausibility', 'alignment', 'aesthetics', 'overall'] as const;
const KNOWN_KEYS = new Set<string>([
  'uid', 'prompt', 'annotator', 'width', 'height', 'artifact_points', 'misalignment_points',
  ...SCORE_KEYS, 'misaligned_words', 'filename', 'meta',
]);

// ---------------------------------------------------------------------------------------------------
// Parsing and validation

function fail(where: string, msg: string): never {
  throw new AnnotationError(`${where}: ${msg}`);
}

function parsePoints(v: unknown, key: string, w: number, h: number, where: string): Array<[number, number]> {
  if (v === undefined) return [];
  if (!Array.isArray(v)) fail(where, `"${key}" must be an array of [x, y] pairs`);
  return v.map((p, i) => {
    if (!Array.isArray(p) || p.length !== 2 || !p.every((c) => typeof c === 'number' && Number.isFinite(c))) {
      fail(where, `"${key}"[${i}] must be [x, y] with finite numbers, got ${JSON.stringify(p)}`);
    }
    const [x, y] = p as [number, number];
    if (x < 0 || x > w || y < 0 || y > h) fail(where, `"${key}"[${i}] = [${x}, ${y}] lies outside the ${w}×${h} image`);
    return [x, y] as [number, number];
  });
}

/** Validate one decoded JSON value as a raw annotation; `where` ("file:line") prefixes errors. */
export function validateRawAnnotation(o: unknown, where: string): RawAnnotation {
  if (typeof o !== 'object' || o === null || Array.isArray(o)) fail(where, 'each line must be a JSON object');
  const r = o as Record<string, unknown>;
  for (const k of Object.keys(r)) {
    if (!KNOWN_KEYS.has(k)) fail(where, `unknown field "${k}" (put extra data under "meta")`);
  }
  if (typeof r.uid !== 'string' || r.uid.length === 0) fail(where, '"uid" must be a non-empty string');
  if (/[\\/]/.test(r.uid)) fail(where, `"uid" must not contain path separators: "${r.uid}"`);
  if (typeof r.prompt !== 'string') fail(where, '"prompt" must be a string');
  if (typeof r.annotator !== 'string' && typeof r.annotator !== 'number') {
    fail(where, '"annotator" must be a string or number identifying the annotator');
  }
  for (const k of ['width', 'height'] as const) {
    const v = r[k];
    if (typeof v !== 'number' || !Number.isInteger(v) || v <= 0) fail(where, `"${k}" must be a positive integer (pixels)`);
  }
  const width = r.width as number;
  const height = r.height as number;
  const scores = {} as Record<(typeof SCORE_KEYS)[number], number>;
  for (const k of SCORE_KEYS) {
    const v = r[k];
    if (typeof v !== 'number' || !Number.isFinite(v) || v < 1 || v > 5) {
      fail(where, `"${k}" must be a Likert score in [1, 5], got ${JSON.stringify(v)}`);
    }
    scores[k] = v;
  }
  const nWords = promptWords(r.prompt).length;
  let words: number[] = [];
  if (r.misaligned_words !== undefined) {
    if (!Array.isArray(r.misaligned_words)) fail(where, '"misaligned_words" must be an array of word indices');
    words = r.misaligned_words.map((i) => {
      if (typeof i !== 'number' || !Number.isInteger(i) || i < 0 || i >= nWords) {
        fail(where, `"misaligned_words" entry ${JSON.stringify(i)} is not a word index in [0, ${nWords}) of the prompt`);
      }
      return i;
    });
    words = [...new Set(words)].sort((a, b) => a - b);
  }
  if (r.filename !== undefined && (typeof r.filename !== 'string' || r.filename.length === 0)) {
    fail(where, '"filename" must be a non-empty string');
  }
  const ann: RawAnnotation = {
    uid: r.uid,
    prompt: r.prompt,
    annotator: String(r.annotator),
    width,
    height,
    artifact_points: parsePoints(r.artifact_points, 'artifact_points', width, height, where),
    misalignment_points: parsePoints(r.misalignment_points, 'misalignment_points', width, height, where),
    ...scores,
    misaligned_words: words,
    where,
  };
  if (r.filename !== undefined) ann.filename = r.filename as string;
  if (r.meta !== undefined) ann.meta = r.meta;
  return ann;
}

/** Parse raw-annotation JSONL text (blank lines allowed); errors name `file` and the 1-based line. */
export function parseRawAnnotations(text: string, file: string): RawAnnotation[] {
  return parseJsonl(text, file).map(({ where, value }) => validateRawAnnotation(value, where));
}

export function readRawAnnotations(file: string): RawAnnotation[] {
  let text: string;
  try {
    text = readRegularText(file, 'raw annotations');
  } catch (e) {
    throw new AnnotationError((e as Error).message);
  }
  const anns = parseRawAnnotations(text, file);
  if (anns.length === 0) throw new AnnotationError(`${file}: no annotations (empty file)`);
  return anns;
}

/** One JSONL line of the raw format (the parser's `where` dropped). */
export function rawAnnotationLine(a: RawAnnotation): string {
  const { where: _where, ...rest } = a;
  return JSON.stringify(rest);
}

// ---------------------------------------------------------------------------------------------------
// Consolidation

/** Disks of `radius` pixels on an image, rasterised onto a map of another size. */
interface DiskGrid {
  imageWidth: number;
  imageHeight: number;
  radius: number;
  mapWidth: number;
  mapHeight: number;
}

/**
 * Visit every output-grid pixel (row-major index) whose centre lies inside one of the disks. Disks are
 * circles of `radius` image pixels in image coordinates, so on a non-square image they become ellipses
 * on the square output grid; sampling the analytic disks at output pixel centres is the
 * nearest-neighbour resize of the full-resolution mask. A pixel inside several disks is visited once
 * per disk.
 */
function forEachDiskPixel(points: ReadonlyArray<readonly [number, number]>, grid: DiskGrid, visit: (p: number) => void): void {
  const { imageWidth, imageHeight, radius, mapWidth, mapHeight } = grid;
  const sx = imageWidth / mapWidth;
  const sy = imageHeight / mapHeight;
  const r2 = radius * radius;
  for (const [px, py] of points) {
    // Output rows/cols whose centres can fall inside the disk.
    const i0 = Math.max(0, Math.floor((py - radius) / sy - 0.5));
    const i1 = Math.min(mapHeight - 1, Math.ceil((py + radius) / sy - 0.5));
    const j0 = Math.max(0, Math.floor((px - radius) / sx - 0.5));
    const j1 = Math.min(mapWidth - 1, Math.ceil((px + radius) / sx - 0.5));
    for (let i = i0; i <= i1; i++) {
      const dy = (i + 0.5) * sy - py;
      const rem = r2 - dy * dy;
      if (rem < 0) continue;
      const row = i * mapWidth;
      for (let j = j0; j <= j1; j++) {
        const dx = (j + 0.5) * sx - px;
        if (dx * dx <= rem) visit(row + j);
      }
    }
  }
}

/**
 * One annotator's heatmap on the output grid: 1 where any disk covers the pixel centre, else 0 (union —
 * overlapping disks of one annotator saturate). See forEachDiskPixel for the geometry.
 */
export function rasterizeDisks(
  points: ReadonlyArray<readonly [number, number]>,
  imageWidth: number,
  imageHeight: number,
  radius: number,
  mapWidth: number,
  mapHeight: number,
): Float32Array {
  const out = new Float32Array(mapWidth * mapHeight);
  forEachDiskPixel(points, { imageWidth, imageHeight, radius, mapWidth, mapHeight }, (p) => (out[p] = 1));
  return out;
}

/** Per-word 0/1 labels (0 = misaligned) by strict majority: a word is 0 when more than half flag it. */
export function majorityLabels(nWords: number, flagged: ReadonlyArray<ReadonlyArray<number>>): number[] {
  const votes = new Array<number>(nWords).fill(0);
  for (const f of flagged) for (const i of new Set(f)) votes[i]++;
  return votes.map((v) => (2 * v > flagged.length ? 0 : 1));
}

/** Mean Likert score (1–5) → [0, 1]. */
export function likertToUnit(mean: number): number {
  return (mean - 1) / 4;
}

function mapDims(mapSize: ConsolidateOptions['mapSize']): [number, number] {
  const [w, h] = Array.isArray(mapSize) ? mapSize : [mapSize ?? 512, mapSize ?? 512];
  if (!Number.isInteger(w) || !Number.isInteger(h) || w <= 0 || h <= 0) {
    throw new UserError(`consolidate: map size must be positive integers, got ${JSON.stringify(mapSize)}`);
  }
  return [w, h];
}

/**
 * Mean of the annotators' union-of-disks maps, as 0–255. Counts how many annotators cover each pixel
 * (a per-pixel stamp makes each annotator count once) instead of materialising every map: at 512²
 * that is a few passes less over a quarter-million pixels per image.
 */
function averageMap(
  group: ReadonlyArray<RawAnnotation>,
  key: 'artifact_points' | 'misalignment_points',
  radius: number,
  mw: number,
  mh: number,
): GrayMap {
  const n = group.length;
  const data = new Uint8Array(mw * mh);
  if (group.every((a) => a[key].length === 0)) return { width: mw, height: mh, data };
  // 32-bit: 16-bit counters wrapped at 65 536 annotators of one image (a full map then read 0).
  const count = new Uint32Array(mw * mh);
  const stamp = new Uint32Array(mw * mh);
  group.forEach((a, k) => {
    const id = k + 1;
    forEachDiskPixel(a[key], { imageWidth: a.width, imageHeight: a.height, radius, mapWidth: mw, mapHeight: mh }, (p) => {
      if (stamp[p] !== id) {
        stamp[p] = id;
        count[p]++;
      }
    });
  });
  const level = Uint8Array.from({ length: n + 1 }, (_, c) => Math.round((c / n) * 255));
  for (let p = 0; p < data.length; p++) if (count[p] !== 0) data[p] = level[count[p]];
  return { width: mw, height: mh, data };
}

/** Consolidate all annotators of ONE image (same uid) into a RichHF record. */
export function consolidateImage(group: ReadonlyArray<RawAnnotation>, opts: ConsolidateOptions = {}): Consolidated {
  if (group.length === 0) throw new UserError('consolidate: empty annotation group');
  const first = group[0];
  const seen = new Set<string>();
  for (const a of group) {
    const where = a.where ?? `uid ${a.uid}`;
    if (a.uid !== first.uid) fail(where, `uid "${a.uid}" mixed into the group of "${first.uid}"`);
    if (a.prompt !== first.prompt) fail(where, `prompt differs from the first annotation of uid "${a.uid}" (${first.where ?? '?'})`);
    if (a.width !== first.width || a.height !== first.height) {
      fail(where, `image size ${a.width}×${a.height} differs from ${first.width}×${first.height} in ${first.where ?? 'the first annotation'} of uid "${a.uid}"`);
    }
    if ((a.filename ?? '') !== (first.filename ?? '')) fail(where, `filename differs between annotations of uid "${a.uid}"`);
    if (seen.has(a.annotator)) fail(where, `annotator "${a.annotator}" annotated uid "${a.uid}" twice`);
    seen.add(a.annotator);
  }
  const [mw, mh] = mapDims(opts.mapSize);
  const radius = first.height * (opts.radiusFraction ?? 1 / 20);
  const mean = (k: (typeof SCORE_KEYS)[number]) => group.reduce((s, a) => s + a[k], 0) / group.length;
  const nWords = promptWords(first.prompt).length;
  const labels = majorityLabels(nWords, group.map((a) => a.misaligned_words));
  return {
    uid: first.uid,
    caption: first.prompt,
    annotators: group.length,
    record: {
      filename: first.filename ?? `${first.uid}.png`,
      artifactScore: likertToUnit(mean('plausibility')),
      misalignmentScore: likertToUnit(mean('alignment')),
      aestheticsScore: likertToUnit(mean('aesthetics')),
      overallScore: likertToUnit(mean('overall')),
      artifactMap: averageMap(group, 'artifact_points', radius, mw, mh),
      misalignmentMap: averageMap(group, 'misalignment_points', radius, mw, mh),
      promptMisalignmentLabel: labels.join(' '),
    },
  };
}

/** Group annotations by uid, in order of each uid's first appearance. */
export function groupByUid(anns: ReadonlyArray<RawAnnotation>): RawAnnotation[][] {
  const groups = new Map<string, RawAnnotation[]>();
  for (const a of anns) {
    const g = groups.get(a.uid);
    if (g) g.push(a);
    else groups.set(a.uid, [a]);
  }
  return [...groups.values()];
}

/** Consolidate every image; `onImage` is called after each (for progress lines). */
export function consolidateAll(
  anns: ReadonlyArray<RawAnnotation>,
  opts: ConsolidateOptions = {},
  onImage?: () => void,
): Consolidated[] {
  return groupByUid(anns).map((g) => {
    const c = consolidateImage(g, opts);
    onImage?.();
    return c;
  });
}
