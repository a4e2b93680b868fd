/**
 * The synthetic world's object catalogue: each kind of object as parts built from the rasterizer's
 * primitives (canvas.ts) in local coordinates ([-1, 1]², y down), coloured by its colour word or a fixed
 * material, and placed, boxed and drawn in an image.
 */
import { COLOURS, type ColourName, type Kind, type RGB } from './grammar';
import { Canvas, clipBox, fillPrim, placePrim, primBounds, rgb01, type Box, type Prim, type Vec } from './canvas';

/** How a part is coloured: the object's colour, a shade/tint of it, or a fixed material. */
export type Paint = 'main' | 'shade' | 'tint' | 'trunk' | 'ink' | 'glass' | 'white' | 'leaf' | 'skin' | 'pink' | 'centre' | 'grey';

export interface Part {
  prim: Prim;
  paint: Paint;
  alpha?: number;
  /** Scale of a duplicated copy when this part can be the "duplicated part" artifact. */
  dup?: number;
}



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

/** Fixed materials, 8-bit sRGB. */
const MATERIAL: Record<Exclude<Paint, 'main' | 'shade' | 'tint' | 'ink' | 'centre'>, RGB> = {
  trunk: [105, 66, 34], glass: [175, 215, 240], white: [248, 248, 250], leaf: [60, 150, 50], skin: [240, 200, 160], pink: [235, 130, 160], grey: [150, 150, 150],
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
