import * as path from 'path';
import * as onnxruntime from 'onnxruntime-node';
import { UserError, initBackend } from '@richhf/reward';
import { TfAutoencoder } from './autoencoder';
import { VaeCheckpoint, readVaeCheckpoint } from './checkpoint';
import { OrtDecoder, OrtEncoder } from './ort-decoder';

const FIX = path.resolve(__dirname, '../../test/fixtures/parity/diffusers');

const wave = (n: number, k: number, amp = 1) => Float32Array.from({ length: n }, (_, i) => amp * Math.sin(i * k + 0.3));

/** max |a − b| / max |b|. */
function rel(a: Float32Array, b: Float32Array): number {
  expect(a.length).toBe(b.length);
  let s = 0;
  let e = 0;
  for (let i = 0; i < b.length; i++) {
    s = Math.max(s, Math.abs(b[i]));
    e = Math.max(e, Math.abs(a[i] - b[i]));
  }
  return e / s;
}

let kl: VaeCheckpoint;
let taesd: VaeCheckpoint;
beforeAll(async () => {
  await initBackend();
  kl = await readVaeCheckpoint(path.join(FIX, 'vae_kl'));
  taesd = await readVaeCheckpoint(path.join(FIX, 'taesd'));
});

test('onnxruntime and tfjs agree on pixels and their latent gradient, batched and non-square', async () => {
  const ort = new OrtDecoder(kl, { threads: 2 });
  const tfv = TfAutoencoder.fromCheckpoint(kl);
  try {
    for (const shape of [
      [1, 4, 8, 8],
      [2, 4, 6, 10],
    ] as [number, number, number, number][]) {
      const latents = wave(shape.reduce((a, b) => a * b, 1), 0.7, 2);
      const g = wave(shape[0] * shape[2] * 2 * shape[3] * 2 * 3, 1.3);
      const a = await ort.decodeVjp(latents, shape, g);
      const b = await tfv.decodeVjp(latents, shape, g);
      expect(rel(a.pixels, b.pixels)).toBeLessThan(1e-5);
      expect(rel(a.gradLatents, b.gradLatents)).toBeLessThan(1e-4);
      expect(rel(await ort.decode(latents, shape), b.pixels)).toBeLessThan(1e-5);
    }
  } finally {
    await ort.dispose();
    await tfv.dispose();
  }
});

test('decodeWithVjp: exactly the pixels and latent gradient of decode + decodeVjp, the forward run once', async () => {
  for (const ckpt of [kl, taesd]) {
    const dec = new OrtDecoder(ckpt, { threads: 2 });
    try {
      const shape: [number, number, number, number] = ckpt === kl ? [2, 4, 6, 10] : [1, 4, 4, 6];
      const latents = wave(shape.reduce((a, b) => a * b, 1), 0.7, 2);
      const n = shape[0] * shape[2] * shape[3] * dec.upscale ** 2 * 3;
      const [g1, g2] = [wave(n, 1.3), wave(n, 0.4)];
      const ref1 = await dec.decodeVjp(latents, shape, g1);
      const ref2 = await dec.decodeVjp(latents, shape, g2);
      const run = jest.spyOn((onnxruntime.InferenceSession as unknown as { prototype: onnxruntime.InferenceSession }).prototype, 'run');
      const split = await dec.decodeWithVjp(latents, shape);
      expect(split.pixels).toEqual(ref1.pixels);
      expect(await split.vjp(g1)).toEqual(ref1.gradLatents);
      expect(await split.vjp(g2)).toEqual(ref2.gradLatents); // the saved forward serves any number of VJPs
      expect(run).toHaveBeenCalledTimes(3);
      run.mockRestore();
      await expect(split.vjp(new Float32Array(5))).rejects.toThrow(/output gradient holds 5 values/);
      await expect(dec.decodeWithVjp(latents, [1, 3, 4, 6])).rejects.toThrow(UserError);
    } finally {
      await dec.dispose();
    }
  }
});

test('TAESD: onnxruntime and tfjs agree on a non-square decode', async () => {
  const ort = new OrtDecoder(taesd);
  const tfv = TfAutoencoder.fromCheckpoint(taesd);
  try {
    const latents = wave(4 * 4 * 6, 0.9, 2);
    expect(rel(await ort.decodeDiffusers(latents, [1, 4, 4, 6]), await tfv.decodeDiffusers(latents, [1, 4, 4, 6]))).toBeLessThan(1e-4);
  } finally {
    await ort.dispose();
    await tfv.dispose();
  }
});

test('bad input is a one-line UserError before any session is built', async () => {
  const ort = new OrtDecoder(taesd);
  const build = jest.spyOn(ort, 'buildModel');
  try {
    const err = await ort.decodeVjp(new Float32Array(16 * 16), [1, 16, 4, 4], new Float32Array(32 * 32 * 3)).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(UserError);
    expect((err as Error).message).toBe(`AutoencoderTiny ${taesd.dir}: latents have 16 channels; this decoder takes 4`);
    await expect(ort.decodeVjp(new Float32Array(64), [1, 4, 4, 4], new Float32Array(10))).rejects.toThrow(/output gradient holds 10 values, the output \[1,32,32,3\] 3072/);
    expect(build).not.toHaveBeenCalled();
  } finally {
    await ort.dispose();
  }
  expect(() => new OrtDecoder(taesd, { threads: 0 })).toThrow(UserError);
});

test('encoders: onnxruntime and tfjs agree (posterior mean and sample, TAESD)', async () => {
  const pixels = wave(2 * 16 * 16 * 3, 0.37).map((v) => 0.5 + 0.5 * v);
  const noise = wave(2 * 4 * 8 * 8, 2.1);
  const ort = new OrtEncoder(kl);
  const tfv = TfAutoencoder.fromCheckpoint(kl);
  try {
    expect(rel(await ort.encode(pixels, [2, 16, 16, 3]), await tfv.encode(pixels, [2, 16, 16, 3]))).toBeLessThan(1e-4);
    expect(rel(await ort.encode(pixels, [2, 16, 16, 3], { noise }), await tfv.encode(pixels, [2, 16, 16, 3], { noise }))).toBeLessThan(1e-4);
    await expect(ort.encode(pixels, [2, 16, 16, 4])).rejects.toThrow(/pixels have 4 channels; this encoder takes 3/);
  } finally {
    await ort.dispose();
    await tfv.dispose();
  }
  const img = wave(64 * 48 * 3, 0.11).map((v) => 0.5 + 0.4 * v);
  const te = new OrtEncoder(taesd);
  const tt = TfAutoencoder.fromCheckpoint(taesd);
  try {
    const z = await te.encode(img, [1, 64, 48, 3]);
    expect(z.length).toBe(4 * 8 * 6);
    expect(rel(z, await tt.encode(img, [1, 64, 48, 3]))).toBeLessThan(1e-4);
  } finally {
    await te.dispose();
    await tt.dispose();
  }
});

test('latents_mean / latents_std in config.json unscale per channel (SDXL-style pipelines), both ways', async () => {
  const fs = await import('fs');
  const os = await import('os');
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'guidance-latents-mean-'));
  try {
    fs.cpSync(kl.dir, dir, { recursive: true });
    const cfg = JSON.parse(fs.readFileSync(path.join(dir, 'config.json'), 'utf8'));
    const mean = [0.5, -1, 0, 2];
    const std = [2, 0.5, 1, 3];
    fs.writeFileSync(path.join(dir, 'config.json'), JSON.stringify({ ...cfg, latents_mean: mean, latents_std: std }));
    const withStats = await readVaeCheckpoint(dir);
    const a = new OrtDecoder(withStats);
    const b = new OrtDecoder(kl);
    const ea = new OrtEncoder(withStats);
    const eb = new OrtEncoder(kl);
    try {
      // vae.decode(latents · std / sf + mean) = the plain VAE at latents' = latents · std + mean · sf.
      const latents = wave(4 * 8 * 8, 0.7);
      const moved = latents.map((v, i) => v * std[Math.floor(i / 64)] + mean[Math.floor(i / 64)] * 0.18215);
      expect(rel(await a.decodeDiffusers(latents, [1, 4, 8, 8]), await b.decodeDiffusers(moved, [1, 4, 8, 8]))).toBeLessThan(1e-5);
      // Encoding inverts it: (z − mean) · sf / std, z the posterior mean.
      const pixels = wave(16 * 16 * 3, 0.37).map((v) => 0.5 + 0.5 * v);
      const za = await ea.encode(pixels, [1, 16, 16, 3]);
      const zb = await eb.encode(pixels, [1, 16, 16, 3]);
      expect(rel(za, zb.map((v, i) => ((v / 0.18215 - mean[Math.floor(i / 64)]) * 0.18215) / std[Math.floor(i / 64)]))).toBeLessThan(1e-5);
    } finally {
      await Promise.all([a.dispose(), b.dispose(), ea.dispose(), eb.dispose()]);
    }
    fs.writeFileSync(path.join(dir, 'config.json'), JSON.stringify({ ...cfg, latents_mean: [1, 2] }));
    await expect(readVaeCheckpoint(dir)).rejects.toThrow(/"latents_mean" must be null or a list of 4 numbers, got \[1,2\]/);
  } finally {
    fs.rmSync(dir, { recursive: true, force: true });
  }
});
