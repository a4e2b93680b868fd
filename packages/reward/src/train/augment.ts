/**
 * The RichHF paper's training augmentations (sec. 4.2), on host buffers:
 * - a random crop keeping 80–100 % of each side, applied to the image AND its heatmaps (the same box,
 *   scaled to each map's resolution), then resized to the model / heatmap size;
 * - brightness, contrast, hue, saturation and JPEG re-encoding, each with a 10 % chance;
 * - grayscale with a 10 % chance.
 * Every draw comes from the `Rng` passed in (keyed by seed, step and batch slot by the trainer), so a
 * batch is a pure function of the run's seed and step — what makes `--resume` exact.
 * Ranges (the paper gives only the probabilities): brightness ±0.2 (added, TF adjust_brightness),
 * contrast ×[0.6, 1.4] about the channel mean (TF adjust_contrast), hue ±0.05 of the colour circle
 * (small: colour words are labels here), saturation ×[0.6, 1.4], JPEG quality 30–90 (sharp/libjpeg).
 */
import sharp from 'sharp';
import { RgbImage, resizeImage } from '../image';
import { Rng } from '../data/synth/rng';

/** `paper`: everything above; `crop`: only the random crop; `none`: resize only. */
export type AugmentMode = 'paper' | 'crop' | 'none';
export const AUGMENT_MODES: readonly AugmentMode[] = ['paper', 'crop', 'none'];

export interface AugmentConfig {
  mode: AugmentMode;
  /** Smallest kept fraction of each side in the crop (paper: 0.8). */
  minCrop: number;
  /** Chance of each photometric op (paper: 0.1). */
  pColour: number;
  pGray: number;
  pJpeg: number;
}

export const PAPER_AUGMENT: AugmentConfig = { mode: 'paper', minCrop: 0.8, pColour: 0.1, pGray: 0.1, pJpeg: 0.1 };

export function augmentConfig(mode: AugmentMode): AugmentConfig {
  return { ...PAPER_AUGMENT, mode };
}

/** A crop box in pixels: [x0, y0, x1, y1), x1/y1 exclusive. */
export type Box = [number, number, number, number];

/** Random box keeping minFrac–100 % of each side at a random place (integer pixels). */
export function randomCrop(rng: Rng, width: number, height: number, minFrac: number): Box {
  const w = Math.max(1, Math.round(width * rng.uniform(minFrac, 1)));
  const h = Math.max(1, Math.round(height * rng.uniform(minFrac, 1)));
  const x0 = rng.int(0, width - w);
  const y0 = rng.int(0, height - h);
  return [x0, y0, x0 + w, y0 + h];
}

/** The same relative box on a raster of another size (maps may be stored at a different resolution). */
export function scaleBox(box: Box, fromW: number, fromH: number, toW: number, toH: number): Box {
  if (fromW === toW && fromH === toH) return box;
  const x0 = Math.floor((box[0] * toW) / fromW);
  const y0 = Math.floor((box[1] * toH) / fromH);
  const x1 = Math.max(x0 + 1, Math.ceil((box[2] * toW) / fromW));
  const y1 = Math.max(y0 + 1, Math.ceil((box[3] * toH) / fromH));
  return [x0, y0, Math.min(toW, x1), Math.min(toH, y1)];
}

/** Crop `c`-channel 8-bit HWC pixels to `box` and return them as a [0,1] RgbImage-shaped buffer. */
function cropU8(data: Uint8Array, width: number, box: Box, c: number): Float32Array {
  const [x0, y0, x1, y1] = box;
  const w = x1 - x0;
  const out = new Float32Array(w * (y1 - y0) * 3);
  for (let y = y0; y < y1; y++) {
    for (let x = x0; x < x1; x++) {
      const s = (y * width + x) * c;
      const d = ((y - y0) * w + (x - x0)) * 3;
      for (let k = 0; k < 3; k++) out[d + k] = k < c ? data[s + k] / 255 : 0;
    }
  }
  return out;
}

/**
 * Crop an 8-bit RGB image and resize it to size×size like the evaluation path does (src/image.ts
 * resizeImage: torchvision antialiased bilinear on 8-bit levels), so an uncropped image gets exactly
 * the pixels `predict` feeds the model. Returns HWC floats in [0, 1].
 */
export function cropResizeRgb(rgb: Uint8Array, width: number, height: number, box: Box, size: number): Float32Array {
  const img: RgbImage = { data: cropU8(rgb, width, box, 3), width: box[2] - box[0], height: box[3] - box[1] };
  return resizeImage(img, size, size).data;
}

/**
 * Crop two 8-bit single-channel maps (same size) to `box` and resize both to size×size (antialiased
 * bilinear, 8-bit levels, through the RGB path with the maps as two channels). Returns [0, 1] maps.
 */
export function cropResizeMaps(a: Uint8Array, b: Uint8Array, width: number, height: number, box: Box, size: number): [Float32Array, Float32Array] {
  const [x0, y0, x1, y1] = box;
  const w = x1 - x0;
  const h = y1 - y0;
  const data = new Float32Array(w * h * 3);
  for (let y = y0; y < y1; y++) {
    for (let x = x0; x < x1; x++) {
      const d = ((y - y0) * w + (x - x0)) * 3;
      data[d] = a[y * width + x] / 255;
      data[d + 1] = b[y * width + x] / 255;
    }
  }
  const r = resizeImage({ data, width: w, height: h }, size, size).data;
  const outA = new Float32Array(size * size);
  const outB = new Float32Array(size * size);
  for (let p = 0; p < size * size; p++) {
    outA[p] = r[p * 3];
    outB[p] = r[p * 3 + 1];
  }
  return [outA, outB];
}

const clamp01 = (v: number) => (v < 0 ? 0 : v > 1 ? 1 : v);

export function adjustBrightness(x: Float32Array, delta: number): void {
  for (let i = 0; i < x.length; i++) x[i] = clamp01(x[i] + delta);
}

/** (x − channel mean)·factor + channel mean, as TF adjust_contrast. */
export function adjustContrast(x: Float32Array, factor: number): void {
  const n = x.length / 3;
  const mean = [0, 0, 0];
  for (let i = 0; i < x.length; i++) mean[i % 3] += x[i];
  for (let k = 0; k < 3; k++) mean[k] /= n;
  for (let i = 0; i < x.length; i++) x[i] = clamp01((x[i] - mean[i % 3]) * factor + mean[i % 3]);
}

/** Shift hue by `dh` (fraction of the circle) and scale saturation by `fs`, through HSV per pixel. */
export function adjustHsv(x: Float32Array, dh: number, fs: number): void {
  for (let i = 0; i < x.length; i += 3) {
    const r = x[i];
    const g = x[i + 1];
    const b = x[i + 2];
    const max = Math.max(r, g, b);
    const min = Math.min(r, g, b);
    const d = max - min;
    let h = 0;
    if (d > 0) {
      if (max === r) h = ((g - b) / d + 6) % 6;
      else if (max === g) h = (b - r) / d + 2;
      else h = (r - g) / d + 4;
      h /= 6;
    }
    const s = max > 0 ? Math.min(1, (d / max) * fs) : 0;
    const v = max;
    h = (((h + dh) % 1) + 1) % 1;
    const h6 = h * 6;
    const k = Math.floor(h6);
    const f = h6 - k;
    const p = v * (1 - s);
    const q = v * (1 - s * f);
    const t = v * (1 - s * (1 - f));
    const [ro, go, bo] = [[v, t, p], [q, v, p], [p, v, t], [p, q, v], [t, p, v], [v, p, q]][k % 6];
    x[i] = ro;
    x[i + 1] = go;
    x[i + 2] = bo;
  }
}

/** ITU-R 601 luma into all three channels (TF rgb_to_grayscale weights). */
export function toGrayscale(x: Float32Array): void {
  for (let i = 0; i < x.length; i += 3) {
    const y = 0.2989 * x[i] + 0.587 * x[i + 1] + 0.114 * x[i + 2];
    x[i] = x[i + 1] = x[i + 2] = y;
  }
}

/** JPEG encode/decode round trip at `quality` (libjpeg through sharp); returns new [0,1] pixels. */
export async function jpegRoundTrip(x: Float32Array, size: number, quality: number): Promise<Float32Array> {
  const u8 = Buffer.alloc(x.length);
  for (let i = 0; i < x.length; i++) u8[i] = Math.round(clamp01(x[i]) * 255);
  const jpg = await sharp(u8, { raw: { width: size, height: size, channels: 3 } }).jpeg({ quality, chromaSubsampling: '4:2:0' }).toBuffer();
  const raw = await sharp(jpg).removeAlpha().raw().toBuffer();
  const out = new Float32Array(x.length);
  for (let i = 0; i < out.length; i++) out[i] = raw[i] / 255;
  return out;
}

export interface AugmentInput {
  rgb: Uint8Array;
  width: number;
  height: number;
  /** Artifact (implausibility) and misalignment maps, 8-bit, mapWidth × mapHeight. */
  maps: [Uint8Array, Uint8Array];
  mapWidth: number;
  mapHeight: number;
}

export interface AugmentOutput {
  /** HWC [0,1] pixels, imageSize². */
  pixels: Float32Array;
  /** Maps in [0,1], heatmapSize². */
  maps: [Float32Array, Float32Array];
  /** The crop box used (image pixels) and the photometric ops applied (for tests / debugging). */
  box: Box;
  ops: string[];
}

/** Augment one example (or just resize it with mode 'none'). */
export async function augmentExample(
  ex: AugmentInput,
  cfg: AugmentConfig,
  rng: Rng,
  imageSize: number,
  heatmapSize: number,
): Promise<AugmentOutput> {
  const full: Box = [0, 0, ex.width, ex.height];
  const box = cfg.mode === 'none' ? full : randomCrop(rng, ex.width, ex.height, cfg.minCrop);
  const mapBox = scaleBox(box, ex.width, ex.height, ex.mapWidth, ex.mapHeight);
  let pixels = cropResizeRgb(ex.rgb, ex.width, ex.height, box, imageSize);
  const maps = cropResizeMaps(ex.maps[0], ex.maps[1], ex.mapWidth, ex.mapHeight, mapBox, heatmapSize);
  const ops: string[] = [];
  if (cfg.mode === 'paper') {
    // Draw every decision and parameter in a fixed order, whether or not the op fires, so later draws
    // do not depend on earlier outcomes.
    const d = {
      brightness: [rng.chance(cfg.pColour), rng.uniform(-0.2, 0.2)] as const,
      contrast: [rng.chance(cfg.pColour), rng.uniform(0.6, 1.4)] as const,
      hue: [rng.chance(cfg.pColour), rng.uniform(-0.05, 0.05)] as const,
      saturation: [rng.chance(cfg.pColour), rng.uniform(0.6, 1.4)] as const,
      gray: rng.chance(cfg.pGray),
      jpeg: [rng.chance(cfg.pJpeg), rng.int(30, 90)] as const,
    };
    if (d.brightness[0]) (adjustBrightness(pixels, d.brightness[1]), ops.push('brightness'));
    if (d.contrast[0]) (adjustContrast(pixels, d.contrast[1]), ops.push('contrast'));
    if (d.hue[0] || d.saturation[0]) {
      adjustHsv(pixels, d.hue[0] ? d.hue[1] : 0, d.saturation[0] ? d.saturation[1] : 1);
      if (d.hue[0]) ops.push('hue');
      if (d.saturation[0]) ops.push('saturation');
    }
    if (d.gray) (toGrayscale(pixels), ops.push('grayscale'));
    if (d.jpeg[0]) {
      pixels = await jpegRoundTrip(pixels, imageSize, d.jpeg[1]);
      ops.push('jpeg');
    }
  }
  return { pixels, maps, box, ops };
}
