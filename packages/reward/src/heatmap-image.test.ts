import sharp from 'sharp';
import { type Heatmap, heatmapPeak, heatmapPng, heatmapPng16, overlayPng, readHeatmapPng16 } from './heatmap-image';

const W = 128;
const H = 128;

/** A textured RGB image (HWC in [0,1]) so "unchanged" means every channel of every pixel. */
function texture(): Float32Array {
  const d = new Float32Array(W * H * 3);
  for (let y = 0; y < H; y++) {
    for (let x = 0; x < W; x++) {
      const p = (y * W + x) * 3;
      d[p] = 0.2 + 0.6 * (x / W);
      d[p + 1] = 0.3 + 0.4 * ((x + y) % 16 < 8 ? 1 : 0);
      d[p + 2] = 0.5 + 0.3 * Math.sin(y / 7);
    }
  }
  return d;
}

/** 64×64 map: a Gaussian blob of height `peak` centred at map cell (16, 48) (bottom left), faint noise elsewhere. */
function blobMap(peak: number, noise: number): Heatmap {
  const n = 64;
  const data = new Float32Array(n * n);
  for (let y = 0; y < n; y++) {
    for (let x = 0; x < n; x++) {
      const r2 = (x - 16) ** 2 + (y - 48) ** 2;
      data[y * n + x] = peak * Math.exp(-r2 / (2 * 5 ** 2)) + noise * (((x * 7 + y * 13) % 10) / 10);
    }
  }
  return { data, width: n, height: n };
}

async function rgbOf(png: Buffer): Promise<Buffer> {
  return sharp(png).removeAlpha().raw().toBuffer();
}

/** Per-pixel largest channel difference between the overlay and the input image. */
async function diffs(overlay: Buffer, img: Float32Array): Promise<Float32Array> {
  const o = await rgbOf(overlay);
  const d = new Float32Array(W * H);
  for (let p = 0; p < W * H; p++) {
    for (let k = 0; k < 3; k++) d[p] = Math.max(d[p], Math.abs(o[p * 3 + k] - Math.round(img[p * 3 + k] * 255)));
  }
  return d;
}

/** Image pixels (x, y) of the blob's core (within 8 px of its centre at (33, 97)) and far from it (> 48 px). */
function regions(): { core: number[]; far: number[] } {
  const core: number[] = [];
  const far: number[] = [];
  for (let y = 0; y < H; y++) {
    for (let x = 0; x < W; x++) {
      const r = Math.hypot(x - 33, y - 97);
      if (r < 8) core.push(y * W + x);
      else if (r > 48) far.push(y * W + x);
    }
  }
  return { core, far };
}

describe('overlayPng', () => {
  const img = texture();
  const { core, far } = regions();
  const mean = (d: Float32Array, idx: number[]) => idx.reduce((s, i) => s + d[i], 0) / idx.length;
  const max = (d: Float32Array, idx: number[]) => idx.reduce((s, i) => Math.max(s, d[i]), 0);

  it('changes the image visibly where the map is strong and not at all elsewhere', async () => {
    const d = await diffs(await overlayPng(img, W, H, blobMap(0.5, 0.02)), img);
    expect(mean(d, core)).toBeGreaterThan(80); // of 255: plainly visible
    expect(max(d, far)).toBe(0);
  });

  it('shows a faint map (peak 0.04, as small models predict) just as clearly: colour follows the map range', async () => {
    const d = await diffs(await overlayPng(img, W, H, blobMap(0.04, 0.002)), img);
    expect(mean(d, core)).toBeGreaterThan(80);
    expect(max(d, far)).toBe(0);
  });

  it('on a shared scale (vmax) a faint map stays faint, and an all-zero map leaves the image as it is', async () => {
    const faint = await diffs(await overlayPng(img, W, H, blobMap(0.04, 0.002), { vmax: 1 }), img);
    expect(max(faint, core)).toBeLessThanOrEqual(1);
    const zero = await diffs(await overlayPng(img, W, H, { data: new Float32Array(64 * 64), width: 64, height: 64 }), img);
    expect(max(zero, [...core, ...far])).toBeLessThanOrEqual(1);
  });

  it('refuses an image buffer of the wrong size', async () => {
    await expect(overlayPng(new Float32Array(10), W, H, blobMap(0.5, 0))).rejects.toThrow(/10 values for a 128×128 RGB image/);
  });
});

describe('raw heatmap files', () => {
  it('heatmapPng16 writes the map at its own size in 16 bits and reads back within one quantisation step', async () => {
    const map = blobMap(0.37, 0.01);
    const h = await heatmapPng16(map);
    const meta = await sharp(h.png).metadata();
    expect([meta.width, meta.height, meta.channels, meta.depth]).toEqual([64, 64, 1, 'ushort']);
    expect(h.max).toBeCloseTo(Math.max(...map.data), 6);
    const back = await readHeatmapPng16(h.png, h.scale);
    let err = 0;
    for (let i = 0; i < map.data.length; i++) err = Math.max(err, Math.abs(back.data[i] - map.data[i]));
    expect(err).toBeLessThanOrEqual(h.scale / 2 + 1e-7);
  });

  it('heatmapPng is one grey channel at the asked size with the heat where the map has it (255 = 1.0)', async () => {
    const png = await heatmapPng(blobMap(0.5, 0), W, H);
    const meta = await sharp(png).metadata();
    expect([meta.width, meta.height, meta.channels]).toEqual([W, H, 1]);
    const data = await sharp(png).toColourspace('b-w').raw().toBuffer();
    expect(data[97 * W + 33]).toBeGreaterThan(110); // ≈ 0.5 × 255
    expect(data[20 * W + 110]).toBe(0);
  });
});

describe('heatmapPeak', () => {
  it('names where to look in image pixels', () => {
    const p = heatmapPeak(blobMap(0.5, 0), 256, 512);
    expect(p.value).toBeCloseTo(0.5, 3);
    expect([p.x, p.y]).toEqual([66, 388]); // cell (16, 48) of 64 → centre (16.5/64, 48.5/64) of 256 × 512
    expect(p.region).toBe('bottom left');
    expect(p.area).toBeGreaterThan(0.01);
    expect(p.area).toBeLessThan(0.1);
  });
});
