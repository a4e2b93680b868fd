/**
 * Scene-wide painting of the synthetic world: procedural backgrounds and a global colour grade, on the
 * rasterizer's canvas (canvas.ts); objects come from objects.ts.
 */
import { type Background, type RGB } from './grammar';
import type { Rng } from './rng';
import { Canvas, fillPrim } from './canvas';

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
