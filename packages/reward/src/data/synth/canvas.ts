/**
 * A tiny software rasterizer for the synthetic world: anti-aliased signed-distance primitives (circle,
 * ellipse, rounded box, triangle, thick segment) painted into an RGB float canvas.
 *
 * Drawing raw buffers ourselves (instead of SVG through sharp/librsvg) keeps rendering at well under a
 * millisecond per 128² image and makes pixels depend only on this code, not on the libvips build.
 */
import type { RGB } from './grammar';

export type Vec = readonly [number, number];
/** Pixel box [x0, y0, x1, y1]: x0/y0 inclusive, x1/y1 exclusive, clipped to the image. */
export type Box = [number, number, number, number];

export type Prim =
  | { t: 'circle'; c: Vec; r: number }
  | { t: 'ellipse'; c: Vec; rx: number; ry: number }
  | { t: 'box'; a: Vec; b: Vec; round?: number }
  | { t: 'tri'; p: readonly [Vec, Vec, Vec] }
  | { t: 'seg'; a: Vec; b: Vec; w: number };


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
  return mapPrim(p, (v) => [cx + (flip ? -v[0] : v[0]) * s, cy + v[1] * s], s);
}

/** Translate a pixel-space primitive and scale it about its own centre. */
export function movePrim(p: Prim, dx: number, dy: number, scale: number): Prim {
  const [bx0, by0, bx1, by1] = primBounds(p);
  const cx = (bx0 + bx1) / 2;
  const cy = (by0 + by1) / 2;
  return mapPrim(p, (v) => [cx + dx + (v[0] - cx) * scale, cy + dy + (v[1] - cy) * scale], scale);
}

/** The primitive with every point mapped by `f` and every length scaled by `s` (f's own scale). */
function mapPrim(p: Prim, f: (v: Vec) => Vec, s: number): Prim {
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

export function clipBox(b: readonly number[], w: number, h: number): Box {
  return [
    Math.max(0, Math.floor(b[0])), Math.max(0, Math.floor(b[1])),
    Math.min(w, Math.ceil(b[2])), Math.min(h, Math.ceil(b[3])),
  ];
}

export function boxArea(b: Box): number {
  return Math.max(0, b[2] - b[0]) * Math.max(0, b[3] - b[1]);
}
