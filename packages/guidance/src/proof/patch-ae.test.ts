import * as fs from 'fs';
import * as os from 'os';
import * as path from 'path';
import { UserError } from '@richhf/reward';
import { PATCH_AE_CONFIG, PatchAutoencoder, PatchDecoder, initPatchWeights, trainPatchAutoencoder } from './patch-ae';

const smooth = (n: number, seed: number) => Float32Array.from({ length: n }, (_, i) => 0.5 + 0.4 * Math.sin(i * 0.013 * (seed + 1) + seed));

let tmp: string;
beforeAll(() => (tmp = fs.mkdtempSync(path.join(os.tmpdir(), 'guide-patch-ae-'))));
afterAll(() => fs.rmSync(tmp, { recursive: true, force: true }));

test('decode and its VJP: [4, h, w] latents → 2h × 2w pixels, gradient = central differences', async () => {
  const ae = new PatchAutoencoder({ ...PATCH_AE_CONFIG, scaling_factor: 1.7 }, initPatchWeights(PATCH_AE_CONFIG, 3), 'test', 1);
  const dec = new PatchDecoder(ae);
  try {
    expect([dec.latentChannels, dec.upscale, dec.scalingFactor]).toEqual([4, 2, 1.7]);
    const shape: [number, number, number, number] = [2, 4, 3, 5];
    const z = Float32Array.from({ length: 120 }, (_, i) => Math.cos(i) * 0.3);
    const px = await dec.decode(z, shape);
    expect(px.length).toBe(2 * 6 * 10 * 3);
    const g = Float32Array.from({ length: px.length }, (_, i) => Math.sin(i * 0.7));
    const { gradLatents, pixels } = await dec.decodeVjp(z, shape, g);
    expect(Array.from(pixels)).toEqual(Array.from(px));
    const f = async (x: Float32Array) => (await dec.decode(x, shape)).reduce((s, v, i) => s + v * g[i], 0);
    for (const i of [0, 17, 64, 119]) {
      const h = 1e-3;
      const up = Float32Array.from(z);
      const dn = Float32Array.from(z);
      up[i] += h;
      dn[i] -= h;
      expect(gradLatents[i]).toBeCloseTo(((await f(up)) - (await f(dn))) / (2 * h), 2);
    }
    await expect(dec.decode(z, [2, 3, 4, 5])).rejects.toThrow(UserError);
  } finally {
    await dec.dispose();
  }
});

test('training lowers the reconstruction error, resumes to the same weights, and saves a loadable folder', async () => {
  const size = 16;
  const batchAt = (step: number) => smooth(2 * size * size * 3, step % 3);
  const opts = { batchAt, batch: 2, size, steps: 200, lr: 1e-2, threads: 1, progress: false, log: () => undefined };
  const full = await trainPatchAutoencoder({ ...opts });
  const first = await trainPatchAutoencoder({ ...opts, steps: 1 });
  const recError = async (ae: PatchAutoencoder) => {
    const img = smooth(size * size * 3, 2);
    const rec = await ae.decode(await ae.encode(img, [1, size, size, 3]), [1, 4, size / 2, size / 2]);
    return rec.reduce((s, v, i) => s + (v - img[i]) ** 2, 0) / rec.length;
  };
  expect(await recError(full.ae)).toBeLessThan((await recError(first.ae)) / 4);
  // Interrupted at 120 (state saved every 50) and resumed from 100: the same weights as the uninterrupted run.
  const stateDir = path.join(tmp, 'state');
  await trainPatchAutoencoder({ ...opts, steps: 200, stateDir, saveEvery: 50, batchAt: (s) => (s === 120 ? (() => { throw new Error('interrupted'); })() : batchAt(s)) }).catch(() => undefined);
  const logs: string[] = [];
  const resumed = await trainPatchAutoencoder({ ...opts, stateDir, saveEvery: 50, log: (l) => logs.push(l) });
  expect(logs).toEqual(['patch autoencoder: resuming at step 100 of 200']);
  for (const [k, t] of full.ae.weights) expect(Array.from(resumed.ae.weights.get(k)!.data)).toEqual(Array.from(t.data));
  await expect(trainPatchAutoencoder({ ...opts, lr: 2e-2, stateDir })).rejects.toThrow(/a training run with other options is there/);
  const dir = path.join(tmp, 'ae');
  full.ae.save(dir);
  const back = PatchAutoencoder.load(dir, { threads: 1 });
  const img = smooth(size * size * 3, 1);
  const z = await back.encode(img, [1, size, size, 3]);
  const rec = await back.decode(z, [1, 4, size / 2, size / 2]);
  expect(rec.reduce((s, v, i) => s + (v - img[i]) ** 2, 0) / rec.length).toBeLessThan(0.01);
  await Promise.all([full.ae.dispose(), first.ae.dispose(), resumed.ae.dispose(), back.dispose()]);
  expect(() => PatchAutoencoder.load(path.join(tmp, 'nothing'))).toThrow(/no config.json/);
});
