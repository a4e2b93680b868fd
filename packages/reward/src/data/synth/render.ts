/**
 * A tiny software rasterizer for the synthetic world: anti-aliased signed-distance primitives (circle,
 * ellipse, rounded box, triangle, thick segment) painted into an RGB float canvas, an object catalogue
 * built from those primitives, procedural backgrounds and a global colour grade.
 *
 * Drawing raw buffers ourselves (instead of SVG through sharp/librsvg) keeps rendering at well under a
 * millisecond per 128² image and makes pixels depend only on this code, not on the libvips build.
 */
import { COLOURS, type Background, type ColourName, type Kind, type RGB } from './grammar';
import type { Rng } from './rng';

export type Vec = readonly [number, number];
/** Pixel box [x0, y0, x1, y1]: x0/y0 inclusive, x1/y1 exclusive, clipped to the image. */
export type Box = [number, number, number, number];

export type Prim =
  | { t: 'circle'; c: Vec; r: number }
  | { t: 'ellipse'; c: Vec; rx: number; ry: number }
  | { t: 'box'; a: Vec; b: Vec; round?: number }
  | { t: 'tri'; p: readonly [Vec, Vec, Vec] }
  | { t: 'seg'; a: Vec; b: Vec; w: number };

/** How a part is coloured: the object's colour, a shade/tint of it, or a fixed material. */
export type Paint = 'main' | 'shade' | 'tint' | 'trunk' | 'ink' | 'glass' | 'white' | 'leaf' | 'skin' | 'pink' | 'centre' | 'grey';

export interface Part {
  prim: Prim;
  paint: Paint;
  alpha?: number;
  /** Scale of a duplicated copy when this part can be the "duplicated part" artifact. */
  dup?: number;
}

/** An RGB canvas, HWC float in [0, 1]. */
export class Canvas {
  readonly data: Float32Array;
  constructor(readonly width: number, readonly height: number) {
    this.data = new Float32Array(width * height * 3);
  }

  clone(): Canvas {
    const c = new Canvas(this.width, this.height);
    c.data.set(this.data);
    return c;
  }

  get(x: number, y: number): [number, number, number] {
    const xi = Math.min(this.width - 1, Math.max(0, Math.round(x)));
    const yi = Math.min(this.height - 1, Math.max(0, Math.round(y)));
    const o = (yi * this.width + xi) * 3;
    return [this.data[o], this.data[o + 1], this.data[o + 2]];
  }

  /** 8-bit RGB, HWC (clamped, rounded). */
  toBytes(): Uint8Array {
    const out = new Uint8Array(this.data.length);
    const d = this.data;
    for (let i = 0; i < out.length; i++) {
      const v = d[i] * 255 + 0.5;
      out[i] = v <= 0 ? 0 : v >= 255 ? 255 : v | 0;
    }
    return out;
  }
}

export function rgb01(c: RGB): [number, number, number] {
  return [c[0] / 255, c[1] / 255, c[2] / 255];
}

// ---------------------------------------------------------------------------------------------------
// Primitives (pixel space)

function sdf(p: Prim, x: number, y: number): number {
  switch (p.t) {
    case 'circle':
      return Math.hypot(x - p.c[0], y - p.c[1]) - p.r;
    case 'ellipse': {
      // Normalised-radius approximation, exact on the axes; enough for 1-px anti-aliasing.
      const k = Math.hypot((x - p.c[0]) / p.rx, (y - p.c[1]) / p.ry);
      return (k - 1) * Math.min(p.rx, p.ry);
    }
    case 'box': {
      const r = p.round ?? 0;
      const cx = (p.a[0] + p.b[0]) / 2;
      const cy = (p.a[1] + p.b[1]) / 2;
      const qx = Math.abs(x - cx) - (Math.abs(p.b[0] - p.a[0]) / 2 - r);
      const qy = Math.abs(y - cy) - (Math.abs(p.b[1] - p.a[1]) / 2 - r);
      return Math.hypot(Math.max(qx, 0), Math.max(qy, 0)) + Math.min(Math.max(qx, qy), 0) - r;
    }
    case 'seg':
      return segDist(x, y, p.a, p.b) - p.w / 2;
    case 'tri': {
      const [a, b, c] = p.p;
      const d = Math.min(segDist(x, y, a, b), segDist(x, y, b, c), segDist(x, y, c, a));
      const s1 = cross(a, b, x, y);
      const s2 = cross(b, c, x, y);
      const s3 = cross(c, a, x, y);
      const inside = (s1 >= 0 && s2 >= 0 && s3 >= 0) || (s1 <= 0 && s2 <= 0 && s3 <= 0);
      return inside ? -d : d;
    }
  }
}

function cross(a: Vec, b: Vec, x: number, y: number): number {
  return (b[0] - a[0]) * (y - a[1]) - (b[1] - a[1]) * (x - a[0]);
}

function segDist(x: number, y: number, a: Vec, b: Vec): number {
  const dx = b[0] - a[0];
  const dy = b[1] - a[1];
  const l2 = dx * dx + dy * dy;
  const t = l2 > 0 ? Math.min(1, Math.max(0, ((x - a[0]) * dx + (y - a[1]) * dy) / l2)) : 0;
  return Math.hypot(x - a[0] - t * dx, y - a[1] - t * dy);
}

/** Unclipped pixel-space bounds of a primitive: [x0, y0, x1, y1] (floats). */
export function primBounds(p: Prim): [number, number, number, number] {
  switch (p.t) {
    case 'circle':
      return [p.c[0] - p.r, p.c[1] - p.r, p.c[0] + p.r, p.c[1] + p.r];
    case 'ellipse':
      return [p.c[0] - p.rx, p.c[1] - p.ry, p.c[0] + p.rx, p.c[1] + p.ry];
    case 'box':
      return [Math.min(p.a[0], p.b[0]), Math.min(p.a[1], p.b[1]), Math.max(p.a[0], p.b[0]), Math.max(p.a[1], p.b[1])];
    case 'seg':
      return [
        Math.min(p.a[0], p.b[0]) - p.w / 2, Math.min(p.a[1], p.b[1]) - p.w / 2,
        Math.max(p.a[0], p.b[0]) + p.w / 2, Math.max(p.a[1], p.b[1]) + p.w / 2,
      ];
    case 'tri': {
      const xs = p.p.map((v) => v[0]);
      const ys = p.p.map((v) => v[1]);
      return [Math.min(...xs), Math.min(...ys), Math.max(...xs), Math.max(...ys)];
    }
  }
}

/** Paint a primitive with 1-px anti-aliased edges (coverage from the signed distance at pixel centres). */
export function fillPrim(cv: Canvas, p: Prim, colour: readonly number[], alpha = 1): void {
  const [bx0, by0, bx1, by1] = primBounds(p);
  const x0 = Math.max(0, Math.floor(bx0 - 1));
  const y0 = Math.max(0, Math.floor(by0 - 1));
  const x1 = Math.min(cv.width - 1, Math.ceil(bx1 + 1));
  const y1 = Math.min(cv.height - 1, Math.ceil(by1 + 1));
  const d = cv.data;
  for (let y = y0; y <= y1; y++) {
    for (let x = x0; x <= x1; x++) {
      const cov = 0.5 - sdf(p, x + 0.5, y + 0.5);
      if (cov <= 0) continue;
      const a = alpha * Math.min(1, cov);
      const o = (y * cv.width + x) * 3;
      d[o] += (colour[0] - d[o]) * a;
      d[o + 1] += (colour[1] - d[o + 1]) * a;
      d[o + 2] += (colour[2] - d[o + 2]) * a;
    }
  }
}

/** Map a primitive from object-local coordinates ([-1,1]², y down) to pixels. */
export function placePrim(p: Prim, cx: number, cy: number, s: number, flip: boolean): Prim {
  const f = (v: Vec): Vec => [cx + (flip ? -v[0] : v[0]) * s, cy + v[1] * s];
  switch (p.t) {
    case 'circle':
      return { t: 'circle', c: f(p.c), r: p.r * s };
    case 'ellipse':
      return { t: 'ellipse', c: f(p.c), rx: p.rx * s, ry: p.ry * s };
    case 'box':
      return { t: 'box', a: f(p.a), b: f(p.b), round: (p.round ?? 0) * s };
    case 'seg':
      return { t: 'seg', a: f(p.a), b: f(p.b), w: p.w * s };
    case 'tri':
      return { t: 'tri', p: [f(p.p[0]), f(p.p[1]), f(p.p[2])] };
  }
}

/** Translate a pixel-space primitive and scale it about its own centre. */
export function movePrim(p: Prim, dx: number, dy: number, scale: number): Prim {
  const [bx0, by0, bx1, by1] = primBounds(p);
  const cx = (bx0 + bx1) / 2;
  const cy = (by0 + by1) / 2;
  const f = (v: Vec): Vec => [cx + dx + (v[0] - cx) * scale, cy + dy + (v[1] - cy) * scale];
  switch (p.t) {
    case 'circle':
      return { t: 'circle', c: f(p.c), r: p.r * scale };
    case 'ellipse':
      return { t: 'ellipse', c: f(p.c), rx: p.rx * scale, ry: p.ry * scale };
    case 'box':
      return { t: 'box', a: f(p.a), b: f(p.b), round: (p.round ?? 0) * scale };
    case 'seg':
      return { t: 'seg', a: f(p.a), b: f(p.b), w: p.w * scale };
    case 'tri':
      return { t: 'tri', p: [f(p.p[0]), f(p.p[1]), f(p.p[2])] };
  }
}

export function clipBox(b: readonly number[], w: number, h: number): Box {
  return [
    Math.max(0, Math.floor(b[0])), Math.max(0, Math.floor(b[1])),
    Math.min(w, Math.ceil(b[2])), Math.min(h, Math.ceil(b[3])),
  ];
}

export function boxArea(b: Box): number {
  return Math.max(0, b[2] - b[0]) * Math.max(0, b[3] - b[1]);
}

// ---------------------------------------------------------------------------------------------------
// Object catalogue (local coordinates: [-1, 1]², y down)

const C = (x: number, y: number, r: number): Prim => ({ t: 'circle', c: [x, y], r });
const E = (x: number, y: number, rx: number, ry: number): Prim => ({ t: 'ellipse', c: [x, y], rx, ry });
const B = (x0: number, y0: number, x1: number, y1: number, round = 0): Prim => ({ t: 'box', a: [x0, y0], b: [x1, y1], round });
const T = (a: Vec, b: Vec, c: Vec): Prim => ({ t: 'tri', p: [a, b, c] });
const S = (a: Vec, b: Vec, w: number): Prim => ({ t: 'seg', a, b, w });

function sunRays(): Part[] {
  const out: Part[] = [];
  for (let k = 0; k < 8; k++) {
    const a = (k * Math.PI) / 4;
    out.push({ prim: S([0.74 * Math.cos(a), 0.74 * Math.sin(a)], [Math.cos(a), Math.sin(a)], 0.14), paint: 'main', dup: 1 });
  }
  return out;
}

function petals(): Part[] {
  const out: Part[] = [];
  for (let k = 0; k < 5; k++) {
    const a = (k * 2 * Math.PI) / 5 - Math.PI / 2;
    out.push({ prim: C(0.42 * Math.cos(a), -0.25 + 0.42 * Math.sin(a), 0.3), paint: 'main', dup: 1 });
  }
  return out;
}

export const CATALOGUE: Record<Kind, { parts: Part[]; flip: boolean; scale: number }> = {
  ball: { flip: false, scale: 0.9, parts: [{ prim: C(0, 0, 1), paint: 'main', dup: 0.5 }, { prim: C(-0.35, -0.35, 0.28), paint: 'tint', alpha: 0.6 }] },
  sun: { flip: false, scale: 1, parts: [{ prim: C(0, 0, 0.56), paint: 'main' }, ...sunRays()] },
  apple: {
    flip: true, scale: 0.9,
    parts: [
      { prim: S([0, -0.55], [0.1, -0.98], 0.1), paint: 'trunk' },
      { prim: C(0, 0.12, 0.82), paint: 'main', dup: 0.5 },
      { prim: T([0.08, -0.72], [0.6, -0.98], [0.48, -0.62]), paint: 'leaf', dup: 1 },
    ],
  },
  balloon: {
    flip: true, scale: 1,
    parts: [
      { prim: S([0, 0.52], [0.12, 1], 0.05), paint: 'grey', dup: 1 },
      { prim: E(0, -0.25, 0.62, 0.76), paint: 'main', dup: 0.55 },
      { prim: T([-0.12, 0.58], [0.12, 0.58], [0, 0.44]), paint: 'shade' },
    ],
  },
  flower: {
    flip: false, scale: 1,
    parts: [{ prim: S([0, 0.2], [0, 1], 0.11), paint: 'leaf' }, ...petals(), { prim: C(0, -0.25, 0.24), paint: 'centre' }],
  },
  house: {
    flip: true, scale: 1,
    parts: [
      { prim: B(-0.75, -0.12, 0.75, 1), paint: 'main' },
      { prim: T([-0.95, -0.08], [0.95, -0.08], [0, -0.92]), paint: 'shade', dup: 0.7 },
      { prim: B(-0.18, 0.45, 0.18, 1), paint: 'trunk' },
      { prim: B(0.3, 0.12, 0.6, 0.42), paint: 'glass', dup: 1 },
      { prim: B(-0.6, 0.12, -0.3, 0.42), paint: 'glass', dup: 1 },
    ],
  },
  box: {
    flip: false, scale: 0.85,
    parts: [
      { prim: B(-0.8, -0.65, 0.8, 0.85), paint: 'main' },
      { prim: B(-0.9, -0.85, 0.9, -0.6), paint: 'shade', dup: 0.8 },
      { prim: S([0, -0.6], [0, 0.85], 0.16), paint: 'tint' },
    ],
  },
  car: {
    flip: true, scale: 1,
    parts: [
      { prim: B(-0.55, -0.62, 0.45, -0.05, 0.15), paint: 'main' },
      { prim: B(-1, -0.18, 1, 0.45, 0.14), paint: 'main' },
      { prim: B(-0.45, -0.52, -0.07, -0.16), paint: 'glass' },
      { prim: B(0.03, -0.52, 0.35, -0.16), paint: 'glass' },
      { prim: C(-0.55, 0.5, 0.27), paint: 'ink', dup: 1 },
      { prim: C(0.55, 0.5, 0.27), paint: 'ink', dup: 1 },
      { prim: C(-0.55, 0.5, 0.1), paint: 'grey' },
      { prim: C(0.55, 0.5, 0.1), paint: 'grey' },
    ],
  },
  tree: {
    flip: false, scale: 1,
    parts: [
      { prim: B(-0.14, 0.35, 0.14, 1), paint: 'trunk', dup: 1 },
      { prim: T([-0.8, 0.55], [0.8, 0.55], [0, -0.3]), paint: 'main' },
      { prim: T([-0.62, 0.12], [0.62, 0.12], [0, -1]), paint: 'main', dup: 0.8 },
    ],
  },
  mountain: {
    flip: false, scale: 1.35,
    parts: [
      { prim: T([-1, 0.9], [1, 0.9], [0, -0.85]), paint: 'main', dup: 0.5 },
      { prim: T([-0.3, -0.28], [0.3, -0.28], [0, -0.85]), paint: 'white', dup: 1 },
    ],
  },
  cat: {
    flip: false, scale: 1,
    parts: [
      { prim: T([-0.74, -0.18], [-0.18, -0.5], [-0.64, -1]), paint: 'main', dup: 1 },
      { prim: T([0.74, -0.18], [0.18, -0.5], [0.64, -1]), paint: 'main', dup: 1 },
      { prim: C(0, 0.15, 0.72), paint: 'main' },
      { prim: C(-0.27, 0.02, 0.11), paint: 'ink', dup: 1.2 },
      { prim: C(0.27, 0.02, 0.11), paint: 'ink', dup: 1.2 },
      { prim: T([-0.1, 0.26], [0.1, 0.26], [0, 0.38]), paint: 'pink' },
    ],
  },
  person: {
    flip: true, scale: 1,
    parts: [
      { prim: S([0, 0.35], [-0.35, 1], 0.15), paint: 'ink', dup: 1 },
      { prim: S([0, 0.35], [0.35, 1], 0.15), paint: 'ink', dup: 1 },
      { prim: S([0, -0.45], [0, 0.38], 0.26), paint: 'main' },
      { prim: S([0, -0.28], [-0.58, 0.1], 0.13), paint: 'main', dup: 1 },
      { prim: S([0, -0.28], [0.58, 0.1], 0.13), paint: 'main', dup: 1 },
      { prim: C(0, -0.72, 0.25), paint: 'skin', dup: 1 },
    ],
  },
  fish: {
    flip: true, scale: 1,
    parts: [
      { prim: T([0.5, 0], [1, -0.48], [1, 0.48]), paint: 'main', dup: 1 },
      { prim: T([-0.25, -0.3], [0.15, -0.3], [-0.02, -0.68]), paint: 'shade', dup: 1 },
      { prim: E(-0.1, 0, 0.72, 0.45), paint: 'main' },
      { prim: C(-0.5, -0.08, 0.09), paint: 'ink' },
    ],
  },
};

const MATERIAL: Record<Exclude<Paint, 'main' | 'shade' | 'tint' | 'ink' | 'centre'>, RGB> = {
  trunk: [105, 66, 34],
  glass: [175, 215, 240],
  white: [248, 248, 250],
  leaf: [60, 150, 50],
  skin: [240, 200, 160],
  pink: [235, 130, 160],
  grey: [150, 150, 150],
};

/** The colour a part is painted with, given the object's (jittered) main colour in [0,1]. */
export function paintColour(paint: Paint, main: readonly number[], mainName: ColourName): number[] {
  const dark = 0.299 * main[0] + 0.587 * main[1] + 0.114 * main[2] < 0.25;
  switch (paint) {
    case 'main':
      return [...main];
    case 'shade':
      return dark ? main.map((v) => v * 0.6 + 0.25) : main.map((v) => v * 0.62);
    case 'tint':
      return main.map((v) => v + (1 - v) * 0.55);
    case 'ink':
      return dark ? [0.9, 0.88, 0.45] : [0.08, 0.08, 0.08];
    case 'centre':
      return rgb01(mainName === 'yellow' || mainName === 'orange' ? COLOURS.brown : COLOURS.yellow);
    default:
      return rgb01(MATERIAL[paint]);
  }
}

/** An object as placed in a scene. */
export interface PlacedObject {
  /** Index of the prompt group it depicts (also for wrong-kind/colour stand-ins). */
  group: number;
  kind: Kind;
  colour: ColourName;
  /** Main colour actually drawn (jittered), [0,1]. */
  rgb: number[];
  cx: number;
  cy: number;
  /** Half-size in pixels (the local [-1,1] square maps to cx ± s·scale). */
  s: number;
  flip: boolean;
  /** Pixel box of all parts, clipped. */
  box: Box;
}

/** The parts of an object in pixel space, with their colours. */
export function objectParts(o: PlacedObject): Array<{ prim: Prim; colour: number[]; alpha: number; part: Part }> {
  const cat = CATALOGUE[o.kind];
  const s = o.s * cat.scale;
  return cat.parts.map((part) => ({
    prim: placePrim(part.prim, o.cx, o.cy, s, o.flip && cat.flip),
    colour: paintColour(part.paint, o.rgb, o.colour),
    alpha: part.alpha ?? 1,
    part,
  }));
}

export function objectBox(o: Omit<PlacedObject, 'box'>, w: number, h: number): Box {
  let b = [Infinity, Infinity, -Infinity, -Infinity];
  for (const { prim } of objectParts({ ...o, box: [0, 0, 0, 0] })) {
    const pb = primBounds(prim);
    b = [Math.min(b[0], pb[0]), Math.min(b[1], pb[1]), Math.max(b[2], pb[2]), Math.max(b[3], pb[3])];
  }
  return clipBox(b, w, h);
}

export function drawObject(cv: Canvas, o: PlacedObject): void {
  for (const p of objectParts(o)) fillPrim(cv, p.prim, p.colour, p.alpha);
}

// ---------------------------------------------------------------------------------------------------
// Backgrounds

export interface BackgroundInfo {
  /** How pleasant the background is on its own, [0,1] (feeds the aesthetics latent). */
  beauty: number;
}

/** Linear blend a→b written into `out` (no allocation: backgrounds call this per pixel). */
function mix(a: readonly number[], b: readonly number[], t: number, out: number[] = [0, 0, 0]): number[] {
  out[0] = a[0] + (b[0] - a[0]) * t;
  out[1] = a[1] + (b[1] - a[1]) * t;
  out[2] = a[2] + (b[2] - a[2]) * t;
  return out;
}
const jit = (rng: Rng, c: RGB, amt = 18): number[] => c.map((v) => Math.min(255, Math.max(0, v + rng.uniform(-amt, amt))) / 255);

/** Fill every pixel from `colourAt(x, y, scratch)`, which may return `scratch` filled in. */
function fillRows(cv: Canvas, colourAt: (x: number, y: number, scratch: number[]) => readonly number[]): void {
  const d = cv.data;
  const scratch = [0, 0, 0];
  for (let y = 0; y < cv.height; y++) {
    for (let x = 0; x < cv.width; x++) {
      const c = colourAt(x, y, scratch);
      const o = (y * cv.width + x) * 3;
      d[o] = c[0];
      d[o + 1] = c[1];
      d[o + 2] = c[2];
    }
  }
}

/** Sky above a wavy horizon, ground below; `ground` may vary with position. */
function skyGround(cv: Canvas, rng: Rng, skyTop: number[], skyBottom: number[], ground: number[], horizon: number, wave: number): void {
  const H = cv.height;
  const ph = rng.uniform(0, 2 * Math.PI);
  const fr = rng.uniform(1, 3);
  const ground2 = ground.map((v) => v * 0.85);
  const hys = Float64Array.from({ length: cv.width }, (_, x) => H * (horizon + wave * Math.sin(ph + (fr * 2 * Math.PI * x) / cv.width)));
  fillRows(cv, (x, y, out) => {
    const hy = hys[x];
    if (y < hy) return mix(skyTop, skyBottom, y / Math.max(1, hy), out);
    return mix(ground, ground2, (y - hy) / Math.max(1, H - hy), out);
  });
}

function dots(cv: Canvas, rng: Rng, n: number, colour: number[], rMax: number): void {
  for (let i = 0; i < n; i++) {
    fillPrim(cv, { t: 'circle', c: [rng.uniform(0, cv.width), rng.uniform(0, cv.height)], r: rng.uniform(0.5, rMax) }, colour, rng.uniform(0.6, 1));
  }
}

/** Paint `bg` over the whole canvas. */
export function drawBackground(cv: Canvas, bg: Background, rng: Rng): BackgroundInfo {
  const W = cv.width;
  const H = cv.height;
  const sky = () => [jit(rng, [110, 170, 235]), jit(rng, [200, 225, 245])];
  switch (bg) {
    case 'field': {
      const [t, b] = sky();
      skyGround(cv, rng, t, b, jit(rng, [95, 175, 70], 25), rng.uniform(0.45, 0.62), rng.uniform(0, 0.04));
      return { beauty: 0.62 };
    }
    case 'beach': {
      const [t, b] = sky();
      const sea = jit(rng, [40, 120, 200]);
      const sand = jit(rng, [230, 205, 150]);
      const hz = rng.uniform(0.38, 0.5);
      const shore = hz + rng.uniform(0.12, 0.2);
      const ph = rng.uniform(0, 6.28);
      const foam = [0.85, 0.95, 1];
      const shores = Float64Array.from({ length: W }, (_, x) => shore + 0.03 * Math.sin(ph + (6 * x) / W));
      fillRows(cv, (x, y, out) => {
        const v = y / H;
        if (v < hz) return mix(t, b, v / hz, out);
        if (v < shores[x]) return mix(sea, foam, 0.25 * ((v - hz) / (shore - hz)), out);
        return sand;
      });
      return { beauty: 0.68 };
    }
    case 'desert': {
      const top = jit(rng, [240, 190, 120]);
      const bottom = jit(rng, [250, 225, 170]);
      const sand = jit(rng, [215, 165, 95], 20);
      skyGround(cv, rng, top, bottom, sand, rng.uniform(0.45, 0.6), rng.uniform(0.03, 0.07));
      return { beauty: 0.45 };
    }
    case 'snow': {
      skyGround(cv, rng, jit(rng, [170, 185, 205]), jit(rng, [215, 222, 232]), jit(rng, [240, 244, 250], 8), rng.uniform(0.45, 0.6), rng.uniform(0, 0.05));
      dots(cv, rng, Math.round((W * H) / 600), [1, 1, 1], Math.max(1, W / 100));
      return { beauty: 0.55 };
    }
    case 'night': {
      const top = jit(rng, [10, 14, 40], 8);
      const bottom = jit(rng, [40, 45, 95], 15);
      fillRows(cv, (_x, y, out) => mix(top, bottom, y / H, out));
      dots(cv, rng, Math.round((W * H) / 250), [1, 1, 0.9], Math.max(0.8, W / 160));
      return { beauty: 0.66 };
    }
    case 'room': {
      const wall = jit(rng, rng.pick<RGB>([[225, 215, 195], [200, 210, 220], [230, 200, 200], [210, 225, 200]]), 12);
      const floor = jit(rng, [150, 105, 65], 20);
      const fy = rng.uniform(0.6, 0.72) * H;
      const plank = Math.max(3, Math.round(H / rng.uniform(8, 14)));
      const floor2 = floor.map((v) => v * 0.9);
      fillRows(cv, (_x, y) => (y < fy ? wall : Math.floor((y - fy) / plank) % 2 === 0 ? floor : floor2));
      return { beauty: 0.42 };
    }
    case 'ocean': {
      const [t, b] = sky();
      const sea = jit(rng, [25, 95, 170]);
      const hz = rng.uniform(0.35, 0.5);
      const ph = rng.uniform(0, 6.28);
      const white = [1, 1, 1];
      fillRows(cv, (x, y, out) => {
        const v = y / H;
        if (v < hz) return mix(t, b, v / hz, out);
        const wave = Math.sin(ph + (x / W) * 12 + v * 40) > 0.85 ? 0.25 : 0;
        return mix(sea, white, wave, out);
      });
      return { beauty: 0.7 };
    }
    case 'sunset': {
      const a = jit(rng, [250, 150, 60]);
      const b = jit(rng, [230, 90, 120]);
      const c = jit(rng, [80, 50, 120]);
      const gy = rng.uniform(0.72, 0.85);
      const ground = [0.12, 0.08, 0.12];
      fillRows(cv, (_x, y, out) => {
        const v = y / H;
        if (v > gy) return ground;
        return v < gy / 2 ? mix(c, b, v / (gy / 2), out) : mix(b, a, (v - gy / 2) / (gy / 2), out);
      });
      return { beauty: 0.82 };
    }
    case 'plain': {
      const c = jit(rng, rng.pick<RGB>([[245, 245, 245], [225, 225, 225], [240, 235, 220], [220, 235, 245]]), 6);
      fillRows(cv, () => c);
      return { beauty: 0.3 };
    }
  }
}

// ---------------------------------------------------------------------------------------------------
// Global grade

export interface Grade {
  /** 1 = as drawn, 0 = greyscale. */
  saturation: number;
  /** Added to every channel after the contrast stretch. */
  exposure: number;
  /** Stretch about mid-grey. */
  contrast: number;
}

export function applyGrade(cv: Canvas, g: Grade): void {
  const d = cv.data;
  const { saturation: s, contrast: k } = g;
  // out = 0.5 + k·(l + s·(c − l) − 0.5) + e = k·s·c + k·(1 − s)·l + (0.5 − 0.5k + e)
  const ks = k * s;
  const kl = k * (1 - s);
  const off = 0.5 - 0.5 * k + g.exposure;
  const clamp01 = (v: number) => (v < 0 ? 0 : v > 1 ? 1 : v);
  for (let o = 0; o < d.length; o += 3) {
    const r = d[o];
    const gg = d[o + 1];
    const b = d[o + 2];
    const l = kl * (0.299 * r + 0.587 * gg + 0.114 * b) + off;
    d[o] = clamp01(ks * r + l);
    d[o + 1] = clamp01(ks * gg + l);
    d[o + 2] = clamp01(ks * b + l);
  }
}

/** How good the grade looks, [0,1]: vivid, well-exposed, normal contrast is best. */
export function gradeQuality(g: Grade): number {
  return Math.min(1, Math.max(0, 1 - 2.2 * Math.abs(g.exposure) - 0.9 * Math.max(0, 1 - g.saturation) - 1.2 * Math.abs(g.contrast - 1)));
}
