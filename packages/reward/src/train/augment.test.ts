import { Rng } from '../data/synth/rng';
import { adjustHsv, augmentConfig, augmentExample, AugmentInput, PAPER_AUGMENT, randomCrop, scaleBox, toGrayscale } from './augment';

/** A 64×64 image whose red channel is x·4 and green y·4; maps at 32×32 with the same ramps. */
function ramps(): AugmentInput {
  const W = 64;
  const rgb = new Uint8Array(W * W * 3);
  for (let y = 0; y < W; y++) for (let x = 0; x < W; x++) rgb.set([x * 4, y * 4, 128], (y * W + x) * 3);
  const M = 32;
  const a = new Uint8Array(M * M);
  const b = new Uint8Array(M * M);
  for (let y = 0; y < M; y++) for (let x = 0; x < M; x++) (a[y * M + x] = x * 8), (b[y * M + x] = y * 8);
  return { rgb, width: W, height: W, maps: [a, b], mapWidth: M, mapHeight: M };
}

describe('augmentations', () => {
  it('crops image and heatmaps with the same box', async () => {
    const ex = ramps();
    for (let k = 0; k < 10; k++) {
      const out = await augmentExample(ex, augmentConfig('crop'), new Rng('t', k), 32, 16);
      const [x0, y0, x1, y1] = out.box;
      expect(x1 - x0).toBeGreaterThanOrEqual(Math.round(64 * 0.8));
      expect(y1 - y0).toBeGreaterThanOrEqual(Math.round(64 * 0.8));
      // Corner pixels of the crop, in image coordinates (0..1), from the image and from each map.
      const img = (px: number, py: number, c: number) => (out.pixels[(py * 32 + px) * 3 + c] * 255) / 4 / 64;
      const map = (m: number, px: number, py: number) => (out.maps[m][py * 16 + px] * 255) / 8 / 32;
      expect(Math.abs(img(0, 0, 0) - map(0, 0, 0))).toBeLessThan(0.04);
      expect(Math.abs(img(31, 0, 0) - map(0, 15, 0))).toBeLessThan(0.04);
      expect(Math.abs(img(0, 31, 1) - map(1, 0, 15))).toBeLessThan(0.04);
      expect(Math.abs(img(0, 0, 0) - x0 / 64)).toBeLessThan(0.03);
      expect(Math.abs(img(0, 0, 1) - y0 / 64)).toBeLessThan(0.03);
    }
  });

  it('is deterministic per rng key and varies between keys', async () => {
    const ex = ramps();
    const a = await augmentExample(ex, PAPER_AUGMENT, new Rng(1, 'augment', 5, 0), 32, 32);
    const b = await augmentExample(ex, PAPER_AUGMENT, new Rng(1, 'augment', 5, 0), 32, 32);
    const c = await augmentExample(ex, PAPER_AUGMENT, new Rng(1, 'augment', 5, 1), 32, 32);
    expect(a.pixels).toEqual(b.pixels);
    expect(a.maps).toEqual(b.maps);
    expect(a.box).not.toEqual(c.box);
  });

  it("mode 'none' only resizes; paper ops fire at about their rates", async () => {
    const ex = ramps();
    const out = await augmentExample(ex, augmentConfig('none'), new Rng(0), 64, 32);
    expect(out.box).toEqual([0, 0, 64, 64]);
    expect(out.pixels[(5 * 64 + 7) * 3]).toBeCloseTo(28 / 255, 6);
    const counts: Record<string, number> = {};
    const N = 300;
    for (let k = 0; k < N; k++) {
      const o = await augmentExample(ex, PAPER_AUGMENT, new Rng('rates', k), 16, 16);
      for (const op of o.ops) counts[op] = (counts[op] ?? 0) + 1;
    }
    for (const op of ['brightness', 'contrast', 'hue', 'saturation', 'grayscale', 'jpeg']) {
      expect(counts[op] / N).toBeGreaterThan(0.04);
      expect(counts[op] / N).toBeLessThan(0.18);
    }
  });

  it('grayscale equalises channels; hue 0 / saturation 1 is the identity', () => {
    const x = Float32Array.from([0.9, 0.2, 0.1, 0.3, 0.6, 0.8]);
    const y = Float32Array.from(x);
    adjustHsv(y, 0, 1);
    y.forEach((v, i) => expect(v).toBeCloseTo(x[i], 6));
    adjustHsv(y, 1 / 3, 1); // red → green
    expect(y[1]).toBeCloseTo(0.9, 6);
    toGrayscale(x);
    expect(x[0]).toBeCloseTo(x[1], 6);
    expect(x[0]).toBeCloseTo(0.2989 * 0.9 + 0.587 * 0.2 + 0.114 * 0.1, 5);
  });

  it('random crops stay inside the image and scale to other resolutions', () => {
    for (let k = 0; k < 50; k++) {
      const b = randomCrop(new Rng(k), 100, 60, 0.8);
      expect(b[0]).toBeGreaterThanOrEqual(0);
      expect(b[2]).toBeLessThanOrEqual(100);
      expect(b[3]).toBeLessThanOrEqual(60);
    }
    expect(scaleBox([10, 20, 50, 60], 100, 100, 50, 50)).toEqual([5, 10, 25, 30]);
  });
});
