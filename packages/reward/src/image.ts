import * as tf from '@tensorflow/tfjs';
import sharp, { type Metadata, type OutputInfo, type SharpOptions } from 'sharp';
import { FileFormatError, UserError } from './errors';
import { readRegularFileAsync } from './io/files';
import { Limits, checkLimit, limitsWith } from './io/limits';

/** A decoded image: HWC, RGB, float32 in [0,1] (8-bit levels / 255). */
export interface RgbImage {
  data: Float32Array;
  width: number;
  height: number;
  file?: string;
}

/** PIL resampling filters used by HF image processors (`resample` ints: 1 LANCZOS, 2 BILINEAR, 3 BICUBIC, 4 BOX). */
export type ResampleFilter = 'box' | 'bilinear' | 'bicubic' | 'lanczos';

export const IMAGENET_STANDARD_MEAN = [0.5, 0.5, 0.5];
export const IMAGENET_STANDARD_STD = [0.5, 0.5, 0.5];
export const CLIP_MEAN = [0.48145466, 0.4578275, 0.40821073];
export const CLIP_STD = [0.26862954, 0.26130258, 0.27577711];

export interface NormalizeOptions {
  mean?: number[];
  std?: number[];
  /** HF processor backend to reproduce (default 'torchvision', transformers ≥ 5); see resizeImage. */
  backend?: ProcessorBackend;
}

export interface ViTPreprocessOptions extends NormalizeOptions {
  /** Default 'bilinear' (ViTImageProcessor `resample=2`). */
  resample?: ResampleFilter;
}

export interface ClipPreprocessOptions extends NormalizeOptions {
  /** Centre-crop size; default = `size`. */
  cropSize?: number | [number, number];
  /** Default 'bicubic' (CLIPImageProcessor `resample=3`). */
  resample?: ResampleFilter;
}

// ---------------------------------------------------------------------------------------------------
// Decoding

/**
 * Decoding follows what HF processors see through PIL's `Image.open(...).convert("RGB")`:
 * - alpha is dropped, not composited (PIL's RGBA→RGB conversion discards the band);
 * - grey / palette images are expanded to RGB;
 * - embedded ICC profiles are ignored (PIL does no colour management);
 * - CMYK uses PIL's naive conversion R = (255-C)(255-K)/255 rather than an ICC transform;
 * - 16-bit samples keep their high byte (PIL unpacks 16-bit RGB PNGs with `RGB;16B`, i.e. v >> 8);
 * - the EXIF orientation is NOT applied: HF processors never call `ImageOps.exif_transpose`, so a model
 *   trained through them saw the stored pixel grid.
 * `failOn: 'truncated'` makes libvips refuse truncated data instead of returning a half-grey image.
 */
const SHARP_INPUT: SharpOptions = { failOn: 'truncated', ignoreIcc: true, autoOrient: false };

/** libvips messages span several lines (often repeated); fold them into one short line. */
function oneLine(e: unknown): string {
  const lines = String((e as Error)?.message ?? e)
    .split('\n')
    .map((l) => l.trim().replace(/:$/, ''))
    .filter((l) => l.length > 0);
  const text = [...new Set(lines)].join('; ');
  return text.length > 200 ? `${text.slice(0, 197)}...` : text;
}

/** PIL's MULDIV255: a·b/255 rounded the way libImaging does it. */
function mulDiv255(a: number, b: number): number {
  const t = a * b + 128;
  return ((t >> 8) + t) >> 8;
}

/**
 * Decode a file or buffer to RGB in [0,1]. Errors are one line naming `label` (default: the path, or
 * "<buffer>"): "no such file", "not an image (…)", "truncated or corrupt image (…)", "empty file".
 */
export async function loadImage(src: string | Buffer, label?: string, opts: { limits?: Partial<Limits> } = {}): Promise<RgbImage> {
  const name = label ?? (typeof src === 'string' ? src : '<buffer>');
  const limits = limitsWith(opts.limits);
  // Regular files only (a FIFO or /dev/zero named *.png would block or never end), size-limited.
  const buf = typeof src === 'string' ? await readRegularFileAsync(src, 'an image', 'maxImageBytes', limits) : src;
  if (typeof src !== 'string') checkLimit(name, 'the size of this image', buf.length, 'maxImageBytes', limits);
  if (buf.length === 0) throw new FileFormatError(name, 'empty file (0 bytes), not an image');

  let meta: Metadata;
  try {
    meta = await sharp(buf, { ...SHARP_INPUT, limitInputPixels: false }).metadata();
  } catch (e) {
    const msg = oneLine(e);
    if (/unsupported image format|bad seek|not a known/i.test(msg)) throw new FileFormatError(name, `not an image (${msg})`);
    throw new FileFormatError(name, `truncated or corrupt image (${msg})`);
  }
  const { width, height } = meta;
  if (!width || !height) throw new FileFormatError(name, `zero-size image (${width ?? 0}x${height ?? 0})`);
  // A 291 KB PNG can declare 10000² pixels (2 GB decoded): refused from its header (maxImagePixels).
  checkLimit(name, `the image size ${width}x${height} in pixels`, width * height, 'maxImagePixels', limits);

  let raw: { data: Buffer; info: OutputInfo };
  try {
    const pipe = sharp(buf, { ...SHARP_INPUT, limitInputPixels: limits.maxImagePixels });
    raw =
      meta.space === 'cmyk'
        ? await pipe.toColourspace('cmyk').raw().toBuffer({ resolveWithObject: true })
        : await pipe.removeAlpha().toColourspace('srgb').raw({ depth: 'uchar' }).toBuffer({ resolveWithObject: true });
  } catch (e) {
    throw new FileFormatError(name, `truncated or corrupt image (${oneLine(e)})`);
  }
  const { data, info } = raw;
  const n = info.width * info.height;
  const out = new Float32Array(n * 3);
  if (meta.space === 'cmyk') {
    if (info.channels < 4) throw new FileFormatError(name, `truncated or corrupt image (CMYK decoded to ${info.channels} channels)`);
    const ch = info.channels;
    for (let i = 0; i < n; i++) {
      const k = 255 - data[i * ch + 3];
      for (let c = 0; c < 3; c++) out[i * 3 + c] = (k - mulDiv255(data[i * ch + c], k)) / 255; // ≥ 0 since C ≤ 255
    }
  } else {
    if (info.channels !== 3) throw new FileFormatError(name, `truncated or corrupt image (decoded to ${info.channels} channels)`);
    for (let i = 0; i < n * 3; i++) out[i] = data[i] / 255;
  }
  return { data: out, width: info.width, height: info.height, file: typeof src === 'string' ? src : label };
}

async function asImage(img: RgbImage | string | Buffer): Promise<RgbImage> {
  return typeof img === 'string' || Buffer.isBuffer(img) ? loadImage(img) : img;
}

// ---------------------------------------------------------------------------------------------------
// HF-compatible resampling
//
// libvips' reduce kernels differ from PIL's/torch's (support scaling at downscale, rounding), which left
// a gap to HF's pixel tensors, and the HF reference tensors are exact 8-bit levels / 255. So resizing
// ports the algorithm of Pillow's libImaging/Resample.c, which torch's antialiased uint8 resize
// (aten/src/ATen/native/cpu/UpSampleKernel.cpp) also follows: a separable convolution whose filter
// support widens by the downscale factor (antialiasing), weights normalised per output pixel and
// quantised to fixed point, horizontal pass then vertical pass, each rounded and clamped to 8 bits.
// The two differ only in the fixed-point precision: PIL uses 22 bits; torch uses int16 weights with the
// most bits that keep the largest weight of the pass below 2^15. transformers 5 processors default to
// the torchvision backend, and its precision reproduces the parity tensors bit for bit where PIL's is
// one level off in ~0.4% of values (kept as `backend: 'pil'` for transformers-4 / slow processors).

/** Which HF image-processor backend to reproduce: torchvision ("fast", transformers ≥ 5) or PIL ("slow"). */
export type ProcessorBackend = 'torchvision' | 'pil';

interface Kernel {
  support: number;
  fn: (x: number) => number;
}

function sinc(x: number): number {
  if (x === 0) return 1;
  const px = Math.PI * x;
  return Math.sin(px) / px;
}

const KERNELS: Record<ResampleFilter, Kernel> = {
  box: { support: 0.5, fn: (x) => (x > -0.5 && x <= 0.5 ? 1 : 0) },
  bilinear: {
    support: 1,
    fn: (x) => {
      const a = Math.abs(x);
      return a < 1 ? 1 - a : 0;
    },
  },
  bicubic: {
    support: 2,
    fn: (x) => {
      const A = -0.5; // Keys cubic with a = -0.5 (PIL, and torch when antialiasing)
      const a = Math.abs(x);
      if (a < 1) return ((A + 2) * a - (A + 3)) * a * a + 1;
      if (a < 2) return (((a - 5) * a + 8) * a - 4) * A;
      return 0;
    },
  },
  lanczos: { support: 3, fn: (x) => (x >= -3 && x < 3 ? sinc(x) * sinc(x / 3) : 0) },
};

/** HF/PIL `resample` integer → filter (NEAREST=0 and HAMMING=5 are not supported). */
export function pilFilter(resample: number): ResampleFilter {
  const f = ({ 1: 'lanczos', 2: 'bilinear', 3: 'bicubic', 4: 'box' } as Record<number, ResampleFilter>)[resample];
  if (!f) throw new UserError(`unsupported PIL resample filter ${resample} (supported: 1 lanczos, 2 bilinear, 3 bicubic, 4 box)`);
  return f;
}

const PIL_PRECISION_BITS = 32 - 8 - 2;

interface Coeffs {
  bits: number; // fixed-point precision
  ksize: number;
  bounds: Int32Array; // [first input index, tap count] per output pixel
  k: Int32Array; // fixed-point weights, ksize per output pixel
}

/**
 * The float weights of resampling `inSize` → `outSize` samples with `filter`, as PIL (and torchvision's
 * antialiased resize) compute them: the kernel widened by the scale factor when shrinking, renormalised
 * at the borders. Per output sample: its first input index and tap count (`bounds`), `ksize` weights.
 * The 8-bit resize below rounds them to fixed point; rahf/preprocess.ts uses them in float.
 */
export function resampleWeights(inSize: number, outSize: number, filter: ResampleFilter): { ksize: number; bounds: Int32Array; w: Float64Array } {
  const kernel = KERNELS[filter];
  const scale = inSize / outSize;
  const filterScale = Math.max(scale, 1);
  const support = kernel.support * filterScale;
  const ksize = Math.ceil(support) * 2 + 1;
  const bounds = new Int32Array(outSize * 2);
  const w = new Float64Array(outSize * ksize);
  for (let xx = 0; xx < outSize; xx++) {
    const center = (xx + 0.5) * scale;
    const xmin = Math.max(Math.trunc(center - support + 0.5), 0);
    const count = Math.min(Math.trunc(center + support + 0.5), inSize) - xmin;
    let sum = 0;
    for (let x = 0; x < count; x++) {
      const v = kernel.fn((x + xmin - center + 0.5) / filterScale);
      w[xx * ksize + x] = v;
      sum += v;
    }
    if (sum !== 0) for (let x = 0; x < count; x++) w[xx * ksize + x] /= sum;
    bounds[xx * 2] = xmin;
    bounds[xx * 2 + 1] = count;
  }
  return { ksize, bounds, w };
}

function coefficients(inSize: number, outSize: number, filter: ResampleFilter, backend: ProcessorBackend): Coeffs {
  const { ksize, bounds, w } = resampleWeights(inSize, outSize, filter);
  let wMax = 0;
  for (const v of w) wMax = Math.max(wMax, v);
  let bits = PIL_PRECISION_BITS;
  if (backend === 'torchvision') {
    // Most bits (< 22) for which round(wMax · 2^bits) still fits an int16.
    for (bits = 0; bits < 22; bits++) if (Math.trunc(0.5 + wMax * 2 ** (bits + 1)) >= 1 << 15) break;
  }
  const one = 2 ** bits;
  const k = new Int32Array(outSize * ksize);
  // Round half away from zero (both libraries cast `±0.5 + w·2^bits` to int).
  for (let i = 0; i < w.length; i++) k[i] = Math.trunc(w[i] < 0 ? -0.5 + w[i] * one : 0.5 + w[i] * one);
  return { bits, ksize, bounds, k };
}

/** One separable pass over 8-bit RGB; `horizontal` resamples along x, else along y. */
function pass(src: Uint8Array, w: number, h: number, outLen: number, horizontal: boolean, filter: ResampleFilter, backend: ProcessorBackend): Uint8Array {
  const { bits, ksize, bounds, k } = coefficients(horizontal ? w : h, outLen, filter, backend);
  const ow = horizontal ? outLen : w;
  const oh = horizontal ? h : outLen;
  const out = new Uint8Array(ow * oh * 3);
  const half = 2 ** (bits - 1);
  const step = horizontal ? 3 : w * 3; // between taps: one pixel along x, one row along y
  const clip8 = (acc: number) => {
    const v = acc >> bits; // sums stay within int32 by construction of the precision
    return v < 0 ? 0 : v > 255 ? 255 : v;
  };
  for (let y = 0; y < oh; y++) {
    for (let x = 0; x < ow; x++) {
      const o = horizontal ? x : y;
      const min = bounds[o * 2];
      const count = bounds[o * 2 + 1];
      const kb = o * ksize;
      let r = half;
      let g = half;
      let b = half;
      let p = horizontal ? (y * w + min) * 3 : (min * w + x) * 3;
      for (let t = 0; t < count; t++, p += step) {
        const c = k[kb + t];
        r += src[p] * c;
        g += src[p + 1] * c;
        b += src[p + 2] * c;
      }
      const q = (y * ow + x) * 3;
      out[q] = clip8(r);
      out[q + 1] = clip8(g);
      out[q + 2] = clip8(b);
    }
  }
  return out;
}

function toU8(img: RgbImage): Uint8Array {
  const u8 = new Uint8Array(img.data.length);
  // Arithmetic rounding: Math.round is ~40x slower inside Jest's vm context, and this runs per sample.
  for (let i = 0; i < u8.length; i++) {
    const v = img.data[i] * 255 + 0.5;
    u8[i] = v <= 0 ? 0 : v >= 255 ? 255 : v | 0;
  }
  return u8;
}

function fromU8(u8: Uint8Array, width: number, height: number, file?: string): RgbImage {
  const data = new Float32Array(u8.length);
  for (let i = 0; i < u8.length; i++) data[i] = u8[i] / 255;
  return { data, width, height, file };
}

/**
 * Resize like HF processors do on 8-bit images: torchvision `resize(antialias=True)` on a uint8 tensor
 * (default) or PIL `Image.resize`. Float input is quantised to 8-bit levels first, as HF does with
 * images it receives. Passes whose size is unchanged are skipped, as in both libraries.
 */
export function resizeImage(
  img: RgbImage,
  width: number,
  height: number,
  filter: ResampleFilter = 'bilinear',
  backend: ProcessorBackend = 'torchvision',
): RgbImage {
  if (!(Number.isInteger(width) && Number.isInteger(height) && width > 0 && height > 0)) {
    throw new UserError(`resize: invalid target size ${width}x${height}`);
  }
  if (!KERNELS[filter]) throw new UserError(`resize: unknown filter "${filter}"`);
  let u8 = toU8(img);
  let w = img.width;
  if (width !== img.width) {
    u8 = pass(u8, img.width, img.height, width, true, filter, backend);
    w = width;
  }
  if (height !== img.height) u8 = pass(u8, w, img.height, height, false, filter, backend);
  return fromU8(u8, width, height, img.file);
}

/** Python's round(): halves go to the even neighbour. */
function roundHalfEven(x: number): number {
  const f = Math.floor(x);
  const d = x - f;
  return d < 0.5 ? f : d > 0.5 ? f + 1 : f % 2 === 0 ? f : f + 1;
}

/**
 * Centre crop: torchvision `center_crop` offsets round((in - out) / 2) (halves to even), HF's numpy
 * `center_crop` (PIL backend) floor((in - out) / 2); they differ only for odd margins.
 */
export function centerCrop(img: RgbImage, width: number, height: number, backend: ProcessorBackend = 'torchvision'): RgbImage {
  if (width > img.width || height > img.height) {
    throw new UserError(`${img.file ?? 'image'}: centre crop ${width}x${height} is larger than the image ${img.width}x${img.height}`);
  }
  const offset = (d: number) => (backend === 'pil' ? Math.floor(d / 2) : roundHalfEven(d / 2));
  const top = offset(img.height - height);
  const left = offset(img.width - width);
  const data = new Float32Array(width * height * 3);
  for (let y = 0; y < height; y++) {
    const s = ((top + y) * img.width + left) * 3;
    data.set(img.data.subarray(s, s + width * 3), y * width * 3);
  }
  return { data, width, height, file: img.file };
}

function normalizeInto(img: RgbImage, mean: number[], std: number[]): Float32Array {
  if (mean.length !== 3 || std.length !== 3) throw new UserError(`mean/std need 3 values, got ${mean.length}/${std.length}`);
  return normalizeRgb(img.data, mean, std);
}

/**
 * (x − mean) / std per channel of interleaved RGB values (NHWC), on the host: into `out` from `offset`
 * (default a new array). normalizePixels below is the same in tfjs.
 */
export function normalizeRgb(x: ArrayLike<number>, mean: readonly number[], std: readonly number[], out = new Float32Array(x.length), offset = 0): Float32Array {
  for (let i = 0; i < x.length; i++) out[offset + i] = (x[i] - mean[i % 3]) / std[i % 3];
  return out;
}

/**
 * ViTImageProcessor: resize to exactly `size` (square, or [h, w]) with bilinear, rescale 1/255,
 * normalise with mean = std = 0.5 (overridable). Returns NHWC [1, h, w, 3] data.
 */
export async function resizeForViT(
  img: RgbImage | string | Buffer,
  size: number | [number, number],
  opts: ViTPreprocessOptions = {},
): Promise<Float32Array> {
  const [h, w] = typeof size === 'number' ? [size, size] : size;
  const resized = resizeImage(await asImage(img), w, h, opts.resample ?? 'bilinear', opts.backend);
  return normalizeInto(resized, opts.mean ?? IMAGENET_STANDARD_MEAN, opts.std ?? IMAGENET_STANDARD_STD);
}

/**
 * CLIPImageProcessor: resize the shortest edge to `size` (long edge int(size·long/short)) with
 * bicubic, centre crop `cropSize` (default `size`), rescale 1/255, CLIP mean/std. NHWC [1, h, w, 3].
 * Errors if the crop is larger than the resized image (HF would zero-pad; no CLIP config does that).
 */
export async function preprocessCLIP(
  img: RgbImage | string | Buffer,
  size = 224,
  opts: ClipPreprocessOptions = {},
): Promise<Float32Array> {
  const im = await asImage(img);
  const short = Math.min(im.width, im.height);
  const long = Math.max(im.width, im.height);
  const newLong = Math.floor((size * long) / short);
  const [w, h] = im.width <= im.height ? [size, newLong] : [newLong, size];
  const resized = resizeImage(im, w, h, opts.resample ?? 'bicubic', opts.backend);
  const crop = opts.cropSize ?? size;
  const [ch, cw] = typeof crop === 'number' ? [crop, crop] : crop;
  return normalizeInto(centerCrop(resized, cw, ch, opts.backend), opts.mean ?? CLIP_MEAN, opts.std ?? CLIP_STD);
}

/**
 * (x - mean) / std over the channel axis of NHWC pixels in [0,1]; differentiable, so scores can be
 * back-propagated to raw pixels.
 */
export function normalizePixels(x01: tf.Tensor4D, mean: number[], std: number[]): tf.Tensor4D {
  const c = x01.shape[3];
  if (mean.length !== c || std.length !== c) {
    throw new UserError(`normalizePixels: mean/std have ${mean.length}/${std.length} values for ${c} channels`);
  }
  return tf.tidy(() => tf.div(tf.sub(x01, tf.tensor1d(mean)), tf.tensor1d(std)) as tf.Tensor4D);
}
