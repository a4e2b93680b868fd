/**
 * From the reward's implausibility heatmap to an inpainting mask (RichHF §5.3, Fig. 6): resample the map
 * to the image, threshold it, dilate it, then snap it to what the generator can re-generate — for an
 * image-token generator (Muse, MaskGIT) the 16-px token cells the mask touches, for the scene-token
 * generator the scene tokens whose rendered region meets it. Masks are 1 = repaint, 0 = keep.
 */
import sharp from 'sharp';
import type { Heatmap } from '@richhf/reward';
import type { Box } from '@richhf/reward/data';

export interface Mask {
  width: number;
  height: number;
  /** Row-major, 1 = repaint. */
  data: Uint8Array;
}

export interface MaskOptions {
  /** Heatmap value (after resampling) at or above which a pixel is flagged (default 0.15). */
  threshold?: number;
  /** Pixels the flagged region grows by (default 4; a disc). */
  dilate?: number;
}

/** Bilinear resample of a heatmap to width × height (pixel centres aligned). */
function resample(map: Heatmap, width: number, height: number): Float32Array {
  const out = new Float32Array(width * height);
  const sx = map.width / width;
  const sy = map.height / height;
  for (let y = 0; y < height; y++) {
    const fy = Math.min(map.height - 1, Math.max(0, (y + 0.5) * sy - 0.5));
    const y0 = Math.floor(fy);
    const y1 = Math.min(map.height - 1, y0 + 1);
    const wy = fy - y0;
    for (let x = 0; x < width; x++) {
      const fx = Math.min(map.width - 1, Math.max(0, (x + 0.5) * sx - 0.5));
      const x0 = Math.floor(fx);
      const x1 = Math.min(map.width - 1, x0 + 1);
      const wx = fx - x0;
      const d = map.data;
      const top = d[y0 * map.width + x0] * (1 - wx) + d[y0 * map.width + x1] * wx;
      const bot = d[y1 * map.width + x0] * (1 - wx) + d[y1 * map.width + x1] * wx;
      out[y * width + x] = top * (1 - wy) + bot * wy;
    }
  }
  return out;
}

/** Grow the set pixels of a mask by `r` pixels (Euclidean disc). */
export function dilate(mask: Mask, r: number): Mask {
  if (r <= 0) return mask;
  const { width: W, height: H, data } = mask;
  const out = new Uint8Array(W * H);
  const R = Math.ceil(r);
  const offsets: Array<[number, number]> = [];
  for (let dy = -R; dy <= R; dy++) for (let dx = -R; dx <= R; dx++) if (dx * dx + dy * dy <= r * r) offsets.push([dx, dy]);
  for (let y = 0; y < H; y++) {
    for (let x = 0; x < W; x++) {
      if (!data[y * W + x]) continue;
      for (const [dx, dy] of offsets) {
        const xx = x + dx;
        const yy = y + dy;
        if (xx >= 0 && xx < W && yy >= 0 && yy < H) out[yy * W + xx] = 1;
      }
    }
  }
  return { width: W, height: H, data: out };
}

/** The thresholded, dilated implausibility map at image size. */
export function heatmapMask(map: Heatmap, width: number, height: number, opts: MaskOptions = {}): Mask {
  const threshold = opts.threshold ?? 0.15;
  const v = resample(map, width, height);
  const data = new Uint8Array(width * height);
  for (let i = 0; i < data.length; i++) data[i] = v[i] >= threshold ? 1 : 0;
  return dilate({ width, height, data }, opts.dilate ?? 4);
}

/** Every `cell`-px grid cell the mask touches, filled (the token footprint of an image-token generator). */
export function snapToGrid(mask: Mask, cell = 16): Mask {
  const { width: W, height: H, data } = mask;
  const out = new Uint8Array(W * H);
  for (let cy = 0; cy < H; cy += cell) {
    for (let cx = 0; cx < W; cx += cell) {
      let hit = false;
      for (let y = cy; y < Math.min(H, cy + cell) && !hit; y++) for (let x = cx; x < Math.min(W, cx + cell) && !hit; x++) hit = data[y * W + x] === 1;
      if (hit) for (let y = cy; y < Math.min(H, cy + cell); y++) out.fill(1, y * W + cx, y * W + Math.min(W, cx + cell));
    }
  }
  return { width: W, height: H, data: out };
}

/** Whether the mask has a set pixel inside box [x0, y0, x1, y1) (clipped to the mask). */
export function meetsBox(mask: Mask, b: Box): boolean {
  const [x0, y0, x1, y1] = [Math.max(0, b[0]), Math.max(0, b[1]), Math.min(mask.width, b[2]), Math.min(mask.height, b[3])];
  for (let y = y0; y < y1; y++) for (let x = x0; x < x1; x++) if (mask.data[y * mask.width + x]) return true;
  return false;
}

/** The union of boxes as a mask. */
export function boxesMask(boxes: ReadonlyArray<Box>, width: number, height: number): Mask {
  const data = new Uint8Array(width * height);
  for (const b of boxes) for (let y = Math.max(0, b[1]); y < Math.min(height, b[3]); y++) data.fill(1, y * width + Math.max(0, b[0]), y * width + Math.min(width, b[2]));
  return { width, height, data };
}

export const maskArea = (m: Mask): number => m.data.reduce((s, v) => s + v, 0);

/** The mask as a PNG in AUTOMATIC1111's convention: white (255) = repaint, black = keep. */
export async function maskPng(m: Mask): Promise<Uint8Array> {
  const px = Buffer.from(m.data.map((v) => (v ? 255 : 0)));
  return new Uint8Array(await sharp(px, { raw: { width: m.width, height: m.height, channels: 1 } }).png().toBuffer());
}
