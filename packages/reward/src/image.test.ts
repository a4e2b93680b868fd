import * as fs from 'fs';
import * as os from 'os';
import * as path from 'path';
import * as tf from '@tensorflow/tfjs';
import sharp from 'sharp';
import { initBackend } from './backend';
import {
  CLIP_MEAN,
  CLIP_STD,
  centerCrop,
  loadImage,
  normalizePixels,
  pilFilter,
  preprocessCLIP,
  resizeForViT,
  resizeImage,
  type RgbImage,
} from './image';

// Odd and broken inputs are generated with sharp into a temp dir, so each test states how its file was made.
let tmp: string;
beforeAll(async () => {
  await initBackend();
  tmp = fs.mkdtempSync(path.join(os.tmpdir(), 'rahf-img-'));
});
afterAll(() => fs.rmSync(tmp, { recursive: true, force: true }));

const W = 24;
const H = 16;
/** Deterministic 8-bit RGB pattern. */
function pattern(w = W, h = H): Buffer {
  const b = Buffer.alloc(w * h * 3);
  for (let i = 0; i < w * h; i++) {
    b[3 * i] = (i * 7) & 255;
    b[3 * i + 1] = (i * 13 + 40) & 255;
    b[3 * i + 2] = (i * 29 + 90) & 255;
  }
  return b;
}
const rawRgb = (buf: Buffer, w = W, h = H) => sharp(buf, { raw: { width: w, height: h, channels: 3 } });

async function write(name: string, data: Buffer | Promise<Buffer>): Promise<string> {
  const f = path.join(tmp, name);
  fs.writeFileSync(f, await data);
  return f;
}

async function errorOf(p: Promise<unknown>): Promise<string> {
  try {
    await p;
  } catch (e) {
    const msg = (e as Error).message;
    expect(msg).not.toContain('\n');
    return msg;
  }
  throw new Error('expected an error');
}

const levels = (img: RgbImage) => Array.from(img.data, (v) => Math.round(v * 255));

describe('loadImage', () => {
  test('RGB PNG decodes to exact 8-bit levels, HWC', async () => {
    const f = await write('rgb.png', rawRgb(pattern()).png().toBuffer());
    const img = await loadImage(f);
    expect([img.width, img.height, img.file]).toEqual([W, H, f]);
    expect(levels(img)).toEqual(Array.from(pattern()));
    expect(img.data.every((v) => v >= 0 && v <= 1)).toBe(true);
  });

  test('buffers decode too, errors use the label', async () => {
    const png = await rawRgb(pattern()).png().toBuffer();
    expect(levels(await loadImage(png))).toEqual(Array.from(pattern()));
    expect(await errorOf(loadImage(Buffer.from('nope'), 'upload#3'))).toMatch(/^upload#3: not an image \(/);
  });

  test('missing file', async () => {
    const f = path.join(tmp, 'missing.png');
    expect(await errorOf(loadImage(f))).toBe(`${f}: no such file`);
  });

  test('text file named .png is not an image', async () => {
    const f = await write('text.png', Buffer.from('this is plain text, not a PNG\n'));
    expect(await errorOf(loadImage(f))).toMatch(new RegExp(`^${f.replace(/[.]/g, '\\.')}: not an image \\(`));
  });

  test('a valid signature with a broken header is corrupt', async () => {
    const f = await write('header.png', Buffer.concat([Buffer.from([137, 80, 78, 71, 13, 10, 26, 10]), Buffer.from('garbage after the signature')]));
    expect(await errorOf(loadImage(f))).toMatch(new RegExp(`^${f.replace(/[.]/g, '\\.')}: truncated or corrupt image \\(.*corrupt header`));
  });

  test('empty file and directory', async () => {
    const f = await write('empty.jpg', Buffer.alloc(0));
    expect(await errorOf(loadImage(f))).toBe(`${f}: empty file (0 bytes), not an image`);
    expect(await errorOf(loadImage(tmp))).toBe(`${tmp}: is a directory, not an image`);
  });

  test('truncated PNG and JPEG are errors, not half-decoded images', async () => {
    const png = await rawRgb(pattern()).png().toBuffer();
    const jpg = await rawRgb(pattern()).jpeg({ quality: 95 }).toBuffer();
    for (const [name, buf] of [
      ['trunc.png', png.subarray(0, Math.floor(png.length / 2))],
      ['trunc.jpg', jpg.subarray(0, Math.floor(jpg.length / 2))],
      ['no-eoi.jpg', jpg.subarray(0, jpg.length - 2)],
    ] as const) {
      const f = await write(name, Buffer.from(buf));
      expect(await errorOf(loadImage(f))).toMatch(new RegExp(`^${f.replace(/[.]/g, '\\.')}: truncated or corrupt image \\(`));
    }
  });

  test('RGBA: alpha is dropped, not composited (as PIL convert("RGB"))', async () => {
    const rgba = Buffer.from([200, 100, 50, 0, 10, 20, 30, 128, 255, 0, 0, 255, 0, 0, 255, 7]);
    const f = await write('rgba.png', sharp(rgba, { raw: { width: 2, height: 2, channels: 4 } }).png().toBuffer());
    expect((await sharp(f).metadata()).channels).toBe(4);
    expect(levels(await loadImage(f))).toEqual([200, 100, 50, 10, 20, 30, 255, 0, 0, 0, 0, 255]);
  });

  test('grayscale and grey+alpha PNG expand to RGB', async () => {
    const g = Buffer.from([0, 50, 100, 150, 200, 250]);
    const f = await write('gray.png', sharp(g, { raw: { width: 3, height: 2, channels: 1 } }).toColourspace('b-w').png().toBuffer());
    expect((await sharp(f).metadata()).channels).toBe(1);
    expect(levels(await loadImage(f))).toEqual(Array.from(g).flatMap((v) => [v, v, v]));
    const ga = Buffer.from([9, 0, 99, 255]);
    const f2 = await write('gray-a.png', sharp(ga, { raw: { width: 2, height: 1, channels: 2 } }).toColourspace('b-w').png().toBuffer());
    expect((await sharp(f2).metadata()).channels).toBe(2);
    expect(levels(await loadImage(f2))).toEqual([9, 9, 9, 99, 99, 99]);
  });

  test('16-bit PNGs keep the high byte (PIL RGB;16B)', async () => {
    const px = new Uint16Array([0, 257, 65535, 1000, 40000, 65280, 255, 256, 511, 32768, 32767, 12345]);
    const f = await write('rgb16.png', sharp(px, { raw: { width: 4, height: 1, channels: 3 } }).toColourspace('rgb16').png().toBuffer());
    expect((await sharp(f).metadata()).depth).toBe('ushort');
    expect(levels(await loadImage(f))).toEqual(Array.from(px, (v) => v >> 8));
    const g = new Uint16Array([0, 300, 65535, 40000]);
    const f2 = await write('gray16.png', sharp(g, { raw: { width: 4, height: 1, channels: 1 } }).toColourspace('grey16').png().toBuffer());
    expect(levels(await loadImage(f2))).toEqual(Array.from(g).flatMap((v) => [v >> 8, v >> 8, v >> 8]));
  });

  test('palette PNG decodes to its colours', async () => {
    const colours = [
      [255, 0, 0],
      [0, 128, 255],
      [30, 200, 60],
      [250, 250, 250],
    ];
    const buf = Buffer.from(Array.from({ length: 16 }, (_, i) => colours[i % 4]).flat());
    const f = await write('palette.png', sharp(buf, { raw: { width: 4, height: 4, channels: 3 } }).png({ palette: true, colours: 4, dither: 0 }).toBuffer());
    expect((await sharp(f).metadata()).isPalette).toBe(true);
    expect(levels(await loadImage(f))).toEqual(Array.from(buf));
  });

  test('CMYK JPEG converts to RGB with PIL\'s formula', async () => {
    const make = (r: number, g: number, b: number) =>
      sharp({ create: { width: 16, height: 16, channels: 3, background: { r, g, b } } }).toColourspace('cmyk').jpeg({ quality: 100 }).toBuffer();
    const red = await write('red-cmyk.jpg', make(255, 0, 0));
    const white = await write('white-cmyk.jpg', make(255, 255, 255));
    expect((await sharp(red).metadata()).space).toBe('cmyk');
    const r = await loadImage(red);
    expect([r.width, r.height, r.data.length]).toEqual([16, 16, 16 * 16 * 3]);
    const [R, G, B] = r.data;
    expect(R).toBeGreaterThan(0.9);
    expect(Math.max(G, B)).toBeLessThan(0.1);
    // PIL cmyk2rgb on the stored ink values: (255 - K) - round((255 - K) * C / 255).
    const ink = await sharp(red, { ignoreIcc: true }).toColourspace('cmyk').raw().toBuffer();
    const nk = 255 - ink[3];
    const mul = (a: number, b: number) => {
      const t = a * b + 128;
      return ((t >> 8) + t) >> 8;
    };
    expect(levels(r).slice(0, 3)).toEqual([0, 1, 2].map((c) => nk - mul(ink[c], nk)));
    expect((await loadImage(white)).data.every((v) => v > 0.97)).toBe(true);
  });

  test('EXIF orientation is not applied (HF processors do not rotate)', async () => {
    const f = await write('exif6.jpg', rawRgb(pattern()).jpeg().withMetadata({ orientation: 6 }).toBuffer());
    expect((await sharp(f).metadata()).orientation).toBe(6);
    const img = await loadImage(f);
    expect([img.width, img.height]).toEqual([W, H]);
  });
});

describe('resizeImage', () => {
  const img = (w: number, h: number, v: (x: number, y: number, c: number) => number): RgbImage => {
    const data = new Float32Array(w * h * 3);
    for (let y = 0; y < h; y++) for (let x = 0; x < w; x++) for (let c = 0; c < 3; c++) data[(y * w + x) * 3 + c] = v(x, y, c) / 255;
    return { data, width: w, height: h };
  };

  test('same size is the identity; constant images stay constant for every filter', () => {
    const p = img(9, 7, (x, y, c) => (x * 31 + y * 17 + c * 50) % 256);
    expect(Array.from(resizeImage(p, 9, 7, 'bicubic').data)).toEqual(Array.from(p.data));
    const flat = img(37, 23, (_x, _y, c) => [13, 128, 251][c]);
    for (const f of ['box', 'bilinear', 'bicubic', 'lanczos'] as const) {
      for (const [w, h] of [[5, 4], [80, 50], [37, 3]]) {
        const out = resizeImage(flat, w, h, f);
        expect(out.data.length).toBe(w * h * 3);
        expect(levels(out).every((v, i) => v === [13, 128, 251][i % 3])).toBe(true);
      }
    }
  });

  test('box 2x downscale averages pairs, halves rounding up', () => {
    const p = img(4, 2, (x, y) => [0, 255, 10, 20][x] + y * 0);
    expect(levels(resizeImage(p, 2, 2, 'box')).filter((_, i) => i % 3 === 0)).toEqual([128, 15, 128, 15]);
    const q = img(2, 4, (_x, y) => [0, 255, 10, 20][y]);
    expect(levels(resizeImage(q, 2, 2, 'box')).filter((_, i) => i % 3 === 0)).toEqual([128, 128, 15, 15]);
  });

  test('bilinear downscaling is antialiased (support widens with the scale)', () => {
    // A 1-pixel checkerboard downscaled 4x: a point sampler would alias to 0 or 255; PIL/torch give ~mid grey.
    const p = img(64, 64, (x, y) => ((x + y) % 2) * 255);
    const out = levels(resizeImage(p, 16, 16, 'bilinear'));
    expect(out.every((v) => Math.abs(v - 128) <= 16)).toBe(true);
  });

  test('upscaling interpolates monotonically between neighbours', () => {
    const p = img(2, 1, (x) => [0, 200][x]);
    const out = levels(resizeImage(p, 8, 1, 'bilinear')).filter((_, i) => i % 3 === 0);
    expect(out[0]).toBe(0);
    expect(out[7]).toBe(200);
    for (let i = 1; i < 8; i++) expect(out[i]).toBeGreaterThanOrEqual(out[i - 1]);
  });

  test('filters by HF resample id; bad sizes refused', () => {
    expect(pilFilter(2)).toBe('bilinear');
    expect(pilFilter(3)).toBe('bicubic');
    expect(() => pilFilter(0)).toThrow(/unsupported PIL resample filter 0/);
    expect(() => resizeImage(img(2, 2, () => 0), 0, 3)).toThrow(/invalid target size/);
  });

  test('centre crop offsets: torchvision rounds halves to even, PIL path floors', () => {
    const p = img(7, 1, (x) => x * 10);
    const first = (im: RgbImage) => levels(im).filter((_, i) => i % 3 === 0);
    expect(first(centerCrop(p, 4, 1))).toEqual([20, 30, 40, 50]); // round(1.5) = 2
    expect(first(centerCrop(p, 4, 1, 'pil'))).toEqual([10, 20, 30, 40]); // floor(1.5) = 1
    expect(first(centerCrop(img(8, 1, (x) => x * 10), 3, 1))).toEqual([20, 30, 40]); // round(2.5) = 2
    expect(() => centerCrop(p, 8, 1)).toThrow(/larger than the image/);
  });
});

describe('processors', () => {
  test('resizeForViT: NHWC [1,h,w,3], mean = std = 0.5 by default, overridable', async () => {
    const f = await write('vit.png', rawRgb(pattern()).png().toBuffer());
    const a = await resizeForViT(f, 8);
    expect(a.length).toBe(8 * 8 * 3);
    expect(Math.min(...a)).toBeGreaterThanOrEqual(-1);
    expect(Math.max(...a)).toBeLessThanOrEqual(1);
    const b = await resizeForViT(await fs.promises.readFile(f), [4, 6], { mean: [0, 0, 0], std: [1, 1, 1] });
    expect(b.length).toBe(4 * 6 * 3);
    const img = resizeImage(await loadImage(f), 6, 4, 'bilinear');
    expect(Array.from(b)).toEqual(Array.from(img.data));
  });

  test('preprocessCLIP: shortest edge, centre crop, CLIP mean/std', async () => {
    const tall = await loadImage(await write('tall.png', rawRgb(pattern(16, 40), 16, 40).png().toBuffer()));
    const out = await preprocessCLIP(tall, 8);
    expect(out.length).toBe(8 * 8 * 3);
    // Same pipeline by hand: 16x40 → 8x20 (int(8·40/16)), crop rows 6..13.
    const resized = resizeImage(tall, 8, 20, 'bicubic');
    const crop = centerCrop(resized, 8, 8);
    const want = Array.from(crop.data, (v, i) => (v - CLIP_MEAN[i % 3]) / CLIP_STD[i % 3]);
    out.forEach((v, i) => expect(v).toBeCloseTo(want[i], 5));
    expect((await preprocessCLIP(tall, 8, { cropSize: [4, 6] })).length).toBe(4 * 6 * 3);
    await expect(preprocessCLIP(tall, 8, { cropSize: 12 })).rejects.toThrow(/larger than the image/);
  });

  test('normalizePixels is (x - mean) / std per channel and differentiable', () => {
    const x = tf.tensor4d([0, 0.5, 1, 0.25, 0.75, 0.1], [1, 1, 2, 3]);
    const mean = [0.1, 0.2, 0.3];
    const std = [0.5, 0.25, 2];
    const y = normalizePixels(x, mean, std);
    const want = [0, 0.5, 1, 0.25, 0.75, 0.1].map((v, i) => (v - mean[i % 3]) / std[i % 3]);
    Array.from(y.dataSync()).forEach((v, i) => expect(v).toBeCloseTo(want[i], 6));
    const g = tf.grad((t: tf.Tensor) => normalizePixels(t as tf.Tensor4D, mean, std).sum())(x);
    Array.from(g.dataSync()).forEach((v, i) => expect(v).toBeCloseTo(1 / std[i % 3], 6));
    expect(() => normalizePixels(x, [0.5], [0.5])).toThrow(/3 channels/);
    tf.dispose([x, y, g]);
  });
});
