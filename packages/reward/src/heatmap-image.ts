import sharp from 'sharp';

/** A predicted heatmap: row-major values in [0,1]. */
export interface Heatmap {
  data: Float32Array;
  width: number;
  height: number;
}

function toGray8(map: Heatmap): Buffer {
  const out = Buffer.alloc(map.width * map.height);
  for (let i = 0; i < out.length; i++) out[i] = Math.round(Math.min(1, Math.max(0, map.data[i])) * 255);
  return out;
}

/** Resize a heatmap to (width, height) with bilinear interpolation, as 8-bit grayscale raw pixels. */
async function grayAt(map: Heatmap, width: number, height: number): Promise<Buffer> {
  return sharp(toGray8(map), { raw: { width: map.width, height: map.height, channels: 1 } })
    .resize(width, height, { kernel: 'linear', fit: 'fill' })
    .raw()
    .toBuffer();
}

/** Grayscale PNG of the heatmap at the given size (255 = 1.0). */
export async function heatmapPng(map: Heatmap, width: number, height: number): Promise<Buffer> {
  const g = await grayAt(map, width, height);
  return sharp(g, { raw: { width, height, channels: 1 } }).toColourspace('b-w').png().toBuffer();
}

// "Turbo"-like ramp in 5 stops: dark blue → cyan → green → yellow → red. Enough to read hot spots.
const STOPS: Array<[number, number, number]> = [
  [48, 18, 59],
  [40, 170, 225],
  [90, 230, 80],
  [250, 200, 40],
  [200, 30, 10],
];

function ramp(v: number): [number, number, number] {
  const x = Math.min(1, Math.max(0, v)) * (STOPS.length - 1);
  const i = Math.min(STOPS.length - 2, Math.floor(x));
  const t = x - i;
  const a = STOPS[i];
  const b = STOPS[i + 1];
  return [a[0] + (b[0] - a[0]) * t, a[1] + (b[1] - a[1]) * t, a[2] + (b[2] - a[2]) * t];
}

/**
 * Colour overlay of the heatmap on the image (HWC RGB in [0,1]): the colour weight grows with the heat,
 * so cold regions show the image unchanged.
 */
export async function overlayPng(rgb01: Float32Array, width: number, height: number, map: Heatmap): Promise<Buffer> {
  const g = await grayAt(map, width, height);
  const out = Buffer.alloc(width * height * 3);
  for (let p = 0; p < width * height; p++) {
    const v = g[p] / 255;
    const a = 0.15 + 0.6 * v;
    const c = ramp(v);
    for (let k = 0; k < 3; k++) {
      out[p * 3 + k] = Math.round((1 - a) * rgb01[p * 3 + k] * 255 + a * c[k]);
    }
  }
  return sharp(out, { raw: { width, height, channels: 3 } }).png().toBuffer();
}
