/**
 * A scene of the synthetic world as data, and the two halves of making an example from it: sampling a
 * scene (prompt → depiction with its misalignment plan → layout → artifacts → grade) and rendering a given
 * scene to pixels with its exact truth. Keeping them apart lets other samplers of scenes (the masked
 * transformer of @richhf/finetune) use the world's renderer as their fixed decoder: whatever produced the
 * scene, its pixels and truth come from the same code as the world's own examples.
 */
import { applyPixelArtifacts, drawDuplicates, planArtifacts, planMisalignment, type Artifact, type Depiction, type MisalignmentEdit } from './defects';
import { COLOURS, POSITION_REGION, samplePrompt, type Background, type ColourName, type Kind, type PromptSpec } from './grammar';
import { boxArea, Canvas, type Box } from './canvas';
import { drawObject, objectBox, type PlacedObject } from './objects';
import { applyGrade, drawBackground, gradeQuality, type Grade } from './render';
import type { Latent } from './annotators';
import { judgeAlignment } from './judge';
import { Rng } from './rng';

/** Everything a picture of the world is made of; rendering it is a pure function of these fields. */
export interface Scene {
  width: number;
  height: number;
  background: Background;
  /** Key of the random stream the background's texture (horizon, sky jitter, stars…) is drawn from. */
  texture: ReadonlyArray<string | number>;
  /** Objects in drawing order; `group` is the prompt group each depicts. */
  objects: PlacedObject[];
  /** Applied in order after the objects (duplicates before the grade, pixel artifacts after it). */
  artifacts: Artifact[];
  grade: Grade;
}

/** Options of scene sampling (a subset of the world's). */
export interface SceneOptions {
  seed: number;
  /** Image side in pixels (square images). Default 128. */
  size?: number;
  /** Distinct prompts: scene i uses the prompt of scene `i mod prompts` (default: its own). */
  prompts?: number;
}

export interface SampledScene {
  prompt: PromptSpec;
  /** What the world meant to depict, with the misalignment edits it planned. */
  depiction: Depiction;
  scene: Scene;
}

/** Exact truth of a rendered scene: truth.jsonl's line without `uid` and `split`. */
export interface SceneTruth {
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

export interface RenderedScene {
  /** HWC 8-bit RGB. */
  rgb: Uint8Array;
  truth: SceneTruth;
}

// ---------------------------------------------------------------------------------------------------
// Layout

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
    const [rx0, rx1, ry0, ry1] = POSITION_REGION[g.position ?? 'any'];
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
// Sampling and rendering

/** The background and objects drawn (before duplicates, grade and pixel artifacts). */
interface DrawnBase {
  cv: Canvas;
  bgCanvas: Canvas;
  beauty: number;
}

function drawBase(W: number, H: number, background: Background, texture: Rng, objects: ReadonlyArray<PlacedObject>): DrawnBase {
  const cv = new Canvas(W, H);
  const { beauty } = drawBackground(cv, background, texture);
  const bgCanvas = cv.clone();
  for (const o of objects) drawObject(cv, o);
  return { cv, bgCanvas, beauty };
}

/** sampleScene, also handing back the drawn base (generateExample renders on it instead of drawing twice). */
export function sampleSceneDrawn(opts: SceneOptions, index: number): { sampled: SampledScene; base: DrawnBase } {
  const W = opts.size ?? 128;
  const H = W;
  const seed = opts.seed;
  const prompt: PromptSpec = samplePrompt(new Rng(seed, opts.prompts ? index % opts.prompts : index, 'prompt'));
  const depiction = planMisalignment(new Rng(seed, index, 'misalign'), prompt);
  const objects = layout(new Rng(seed, index, 'layout'), depiction, W, H);
  const texture = [seed, index, 'render'];
  // The texture stream draws the background, then the grade: the scene stores the grade's values, and
  // rendering redraws the background from a fresh stream with the same key.
  const renderRng = new Rng(...texture);
  const base = drawBase(W, H, depiction.background, renderRng, objects);
  // Duplicated parts are placed with the drawn scene at hand (they must not vanish into what lies under them).
  const artifacts = planArtifacts(new Rng(seed, index, 'artifacts'), objects, W, H, base.cv);
  const grade: Grade = {
    saturation: renderRng.uniform(0.35, 1.15),
    exposure: Math.max(-0.25, Math.min(0.25, renderRng.normal(0, 0.1))),
    contrast: renderRng.uniform(0.7, 1.2),
  };
  const scene: Scene = { width: W, height: H, background: depiction.background, texture, objects, artifacts, grade };
  return { sampled: { prompt, depiction, scene }, base };
}

/** Sample scene `index` of the world with `opts` (the scene of generateExample(opts, index)). */
export function sampleScene(opts: SceneOptions, index: number): SampledScene {
  return sampleSceneDrawn(opts, index).sampled;
}

export interface RenderOptions {
  /**
   * The misalignments to record: the world passes its plan's edits; by default they are judged from the
   * scene against the prompt (judgeAlignment), which is what a scene from any other sampler needs.
   */
  edits?: ReadonlyArray<MisalignmentEdit>;
}

/** Render `scene` for `prompt`: its pixels and exact truth. */
export function renderScene(scene: Scene, prompt: PromptSpec, opts: RenderOptions = {}): RenderedScene {
  const base = drawBase(scene.width, scene.height, scene.background, new Rng(...scene.texture), scene.objects);
  return finishScene(scene, prompt, base, opts.edits ?? judgeAlignment(prompt, scene));
}

/** Duplicates, grade and pixel artifacts on a drawn base, then the truth. */
export function finishScene(scene: Scene, prompt: PromptSpec, base: DrawnBase, edits: ReadonlyArray<MisalignmentEdit>): RenderedScene {
  const { width: W, height: H, objects, artifacts, grade } = scene;
  const { cv, bgCanvas, beauty } = base;
  drawDuplicates(cv, artifacts);
  applyGrade(cv, grade);
  applyPixelArtifacts(cv, artifacts);

  // Misaligned regions: the depicted objects an edit points at (indices within the edit's group).
  const groupObjects = (g: number) => objects.filter((o) => o.group === g);
  const misalignments = edits.map((e) => ({
    type: e.type,
    group: e.group,
    words: e.words,
    boxes: e.group === undefined ? [] : e.regionObjects.map((i) => groupObjects(e.group!)[i].box),
    depicted: e.depicted,
  }));
  const misWords = [...new Set(edits.flatMap((e) => e.words))].sort((a, b) => a - b);
  const labels = prompt.words.map((_, i) => (misWords.includes(i) ? 0 : 1));

  const sev = artifacts.reduce((s, a) => s + a.severity, 0);
  const plausibility = Math.max(0, 1 - sev);
  const alignment = Math.max(0, 1 - edits.reduce((s, e) => s + e.weight, 0));
  const aes = aestheticsOf(objects, bgCanvas, beauty, grade, artifacts, W, H);
  const latent: Latent = {
    plausibility: round4(plausibility),
    alignment: round4(alignment),
    aesthetics: round4(aes.value),
    overall: round4(0.4 * plausibility + 0.35 * alignment + 0.25 * aes.value),
  };
  const truth: SceneTruth = {
    caption: prompt.caption,
    words: prompt.words.map((w) => w.text),
    width: W,
    height: H,
    background: { prompt: prompt.background, depicted: scene.background, named: prompt.backgroundWord !== undefined },
    objects: objects.map((o) => ({ group: o.group, kind: o.kind, colour: o.colour, box: o.box })),
    artifacts: artifacts.map((a) => ({ type: a.type, box: a.box, severity: round4(a.severity), object: a.object })),
    misalignments,
    labels,
    latent,
    aestheticsTerms: aes.terms,
    grade: { saturation: round4(grade.saturation), exposure: round4(grade.exposure), contrast: round4(grade.contrast) },
  };
  return { rgb: cv.toBytes(), truth };
}
