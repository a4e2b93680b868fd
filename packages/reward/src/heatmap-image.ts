/**
 * Heatmaps as files and pictures: the raw map losslessly (16-bit PNG + scale), a grayscale preview, a
 * colour overlay on the image scaled to the map's range, and where a person should look.
 *
 * The model's maps are small in absolute terms (the bundled checkpoint peaks near 0.5 on a strong artifact,
 * near 0.1 on a clean image), so a fixed 0–1 scale in 8 bits shows almost nothing; overlays therefore map
 * colour over [0, vmax] (the map's own peak unless a shared vmax is given) and say the range in a legend
 * (viz/heatmap-figure.ts).
 */
import sharp from 'sharp';
import { UserError } from './errors';
import { colourScheme } from './viz/vega';

/** A predicted heatmap: row-major values in [0,1]. */
export interface Heatmap {
  data: Float32Array;
  width: number;
  height: number;
}

const U16 = 65535;

function mapMax(map: Heatmap): number {
  let mx = 0;
  for (let i = 0; i < map.data.length; i++) if (map.data[i] > mx) mx = map.data[i];
  return mx;
}

function checkMap(map: Heatmap): void {
  if (map.data.length !== map.width * map.height) {
    throw new UserError(`heatmap: ${map.data.length} values for ${map.width}×${map.height}`);
  }
}

/** Map values / vmax as 16-bit (clamped to [0, 1] of vmax). */
function toU16(map: Heatmap, vmax: number): Uint16Array {
  const out = new Uint16Array(map.data.length);
  const k = vmax > 0 ? U16 / vmax : 0;
  for (let i = 0; i < out.length; i++) out[i] = Math.round(Math.min(U16, Math.max(0, map.data[i] * k)));
  return out;
}

/**
 * The map resized to (width, height) by bilinear interpolation, in units of `vmax` (0…1). Sharp works in
 * 16 bits here: 8 bits would leave a map peaking at 0.05 with a dozen levels.
 */
async function unitMapAt(map: Heatmap, vmax: number, width: number, height: number): Promise<Float32Array> {
  checkMap(map);
  const u = toU16(map, vmax);
  const buf = await sharp(u, { raw: { width: map.width, height: map.height, channels: 1 } })
    .resize(width, height, { kernel: 'linear', fit: 'fill' })
    // Sharp would otherwise hand back 3-channel sRGB (the bug that once wrote heatmaps as noise).
    .toColourspace('grey16')
    .raw({ depth: 'ushort' })
    .toBuffer();
  const v = new Uint16Array(buf.buffer, buf.byteOffset, buf.length / 2);
  const out = new Float32Array(width * height);
  for (let i = 0; i < out.length; i++) out[i] = v[i] / U16;
  return out;
}

/** Grayscale 8-bit PNG of the heatmap at the given size, 255 = 1.0 (an absolute scale: faint maps look dark). */
export async function heatmapPng(map: Heatmap, width: number, height: number): Promise<Buffer> {
  const unit = await unitMapAt(map, 1, width, height);
  const g = Buffer.alloc(width * height);
  for (let i = 0; i < g.length; i++) g[i] = Math.round(unit[i] * 255);
  return sharp(g, { raw: { width, height, channels: 1 } }).toColourspace('b-w').png().toBuffer();
}

/** A heatmap as a 16-bit grayscale PNG at its own resolution: value = pixel × scale. */
export interface Heatmap16 {
  png: Buffer;
  /** Multiply a pixel (0…65535) by this to get the map value (the map's peak / 65535). */
  scale: number;
  /** The map's largest value. */
  max: number;
  width: number;
  height: number;
}

/**
 * The raw map, losslessly up to 16-bit quantisation of its own range (step = peak / 65535): no resize, no
 * colour. Read it back with `readHeatmapPng16(png, scale)`.
 */
export async function heatmapPng16(map: Heatmap): Promise<Heatmap16> {
  checkMap(map);
  const max = mapMax(map);
  const scale = max > 0 ? max / U16 : 0;
  const png = await sharp(toU16(map, max), { raw: { width: map.width, height: map.height, channels: 1 } })
    .toColourspace('grey16')
    .png({ compressionLevel: 9 })
    .toBuffer();
  return { png, scale, max, width: map.width, height: map.height };
}

/** A heatmap from a 16-bit PNG written by `heatmapPng16` (file path or bytes) and its scale. */
export async function readHeatmapPng16(input: string | Buffer, scale: number): Promise<Heatmap> {
  const { data, info } = await sharp(input).toColourspace('grey16').raw({ depth: 'ushort' }).toBuffer({ resolveWithObject: true });
  const v = new Uint16Array(data.buffer, data.byteOffset, data.length / 2);
  const out = new Float32Array(info.width * info.height);
  for (let i = 0; i < out.length; i++) out[i] = v[i] * scale;
  return { data: out, width: info.width, height: info.height };
}

export interface OverlayOptions {
  /**
   * The value drawn with the hottest colour (default: the map's own peak). Give one vmax to several
   * overlays to compare them on one scale; 1 is the annotation scale of RichHF-18K's maps.
   */
  vmax?: number;
  /** Fraction of vmax below which the image is left untouched (default 0.1). */
  floor?: number;
  /** Opacity of the colour at vmax (default 0.7). */
  opacity?: number;
  /** A vega continuous colour scheme (default 'turbo'). */
  scheme?: string;
}

/** The colour scale an overlay used, for its legend. */
export interface OverlayScale {
  vmax: number;
  floor: number;
  opacity: number;
  scheme: string;
}

/** 256 RGB entries of a vega scheme (its CSS colours parsed once). */
async function colourTable(name: string): Promise<Uint8Array> {
  const interp = await colourScheme(name);
  const lut = new Uint8Array(256 * 3);
  for (let i = 0; i < 256; i++) {
    const c = interp(i / 255);
    const m = /rgb\((\d+),\s*(\d+),\s*(\d+)\)/.exec(c) ?? /#([0-9a-f]{2})([0-9a-f]{2})([0-9a-f]{2})/i.exec(c);
    if (!m) throw new Error(`colour scheme ${name}: unexpected colour ${c}`);
    const base = c.startsWith('#') ? 16 : 10;
    for (let k = 0; k < 3; k++) lut[i * 3 + k] = parseInt(m[k + 1], base);
  }
  return lut;
}

const tables = new Map<string, Promise<Uint8Array>>();

/** The resolved scale of an overlay of `map` with `opts`. */
export function overlayScale(map: Heatmap, opts: OverlayOptions = {}): OverlayScale {
  const vmax = opts.vmax ?? mapMax(map);
  const floor = opts.floor ?? 0.1;
  const opacity = opts.opacity ?? 0.7;
  if (!(vmax >= 0) || !Number.isFinite(vmax)) throw new UserError(`overlay: vmax must be a finite number ≥ 0, got ${vmax}`);
  if (!(floor >= 0 && floor < 1)) throw new UserError(`overlay: floor must be in [0, 1), got ${floor}`);
  if (!(opacity > 0 && opacity <= 1)) throw new UserError(`overlay: opacity must be in (0, 1], got ${opacity}`);
  return { vmax, floor, opacity, scheme: opts.scheme ?? 'turbo' };
}

/**
 * Colour overlay of the heatmap on the image (HWC RGB in [0,1]), same size as the image. Colour and
 * opacity grow from the floor to vmax; below the floor the image is unchanged, so a person sees the
 * predicted region and nothing else. An all-zero map (vmax 0) returns the image itself.
 */
export async function overlayPng(rgb01: Float32Array, width: number, height: number, map: Heatmap, opts: OverlayOptions = {}): Promise<Buffer> {
  if (rgb01.length !== width * height * 3) throw new UserError(`overlay: ${rgb01.length} values for a ${width}×${height} RGB image`);
  const s = overlayScale(map, opts);
  if (!tables.has(s.scheme)) tables.set(s.scheme, colourTable(s.scheme));
  const lut = await (tables.get(s.scheme) as Promise<Uint8Array>);
  const unit = s.vmax > 0 ? await unitMapAt(map, s.vmax, width, height) : new Float32Array(width * height);
  const out = Buffer.alloc(width * height * 3);
  for (let p = 0; p < width * height; p++) {
    const t = (unit[p] - s.floor) / (1 - s.floor);
    const a = t > 0 ? s.opacity * Math.min(1, t) : 0;
    const c = Math.round(Math.min(1, Math.max(0, t)) * 255) * 3;
    for (let k = 0; k < 3; k++) out[p * 3 + k] = Math.round((1 - a) * Math.min(1, Math.max(0, rgb01[p * 3 + k])) * 255 + a * lut[c + k]);
  }
  return sharp(out, { raw: { width, height, channels: 3 } }).png().toBuffer();
}

/** Where a heatmap points, in the image's pixel coordinates. */
export interface HeatmapPeak {
  /** The map's largest value. */
  value: number;
  /** Centre of the peak's map cell, in image pixels. */
  x: number;
  y: number;
  /** 'top left' … 'centre' … 'bottom right': the third of the image (each way) holding the peak. */
  region: string;
  /** Fraction of the map at or above half the peak: how much of the image the hot region covers. */
  area: number;
}

/** The peak of `map` mapped onto a width × height image, and the share of the image around it. */
export function heatmapPeak(map: Heatmap, width: number, height: number): HeatmapPeak {
  checkMap(map);
  let idx = 0;
  for (let i = 1; i < map.data.length; i++) if (map.data[i] > map.data[idx]) idx = i;
  const value = map.data[idx] ?? 0;
  let hot = 0;
  for (let i = 0; i < map.data.length; i++) if (value > 0 && map.data[i] >= value / 2) hot++;
  const fx = ((idx % map.width) + 0.5) / map.width;
  const fy = (Math.floor(idx / map.width) + 0.5) / map.height;
  const third = (f: number, names: [string, string, string]) => names[Math.min(2, Math.floor(f * 3))];
  const v = third(fy, ['top', 'middle', 'bottom']);
  const h = third(fx, ['left', 'centre', 'right']);
  const region = v === 'middle' && h === 'centre' ? 'centre' : v === 'middle' ? `middle ${h}` : h === 'centre' ? `${v} centre` : `${v} ${h}`;
  return { value, x: Math.round(fx * width), y: Math.round(fy * height), region, area: hot / map.data.length };
}
