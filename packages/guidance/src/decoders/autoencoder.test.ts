import * as path from 'path';
import * as tf from '@tensorflow/tfjs';
import { UserError, initBackend } from '@richhf/reward';
import { AutoencoderKL, AutoencoderTiny, TfAutoencoder } from './autoencoder';

const FIX = path.resolve(__dirname, '../../test/fixtures/parity/diffusers');

/** Deterministic values in about [-amp, amp]. */
const wave = (n: number, k: number, amp = 1) => Float32Array.from({ length: n }, (_, i) => amp * Math.sin(i * k + 0.3));

function maxAbsDiff(a: Float32Array, b: Float32Array): number {
  expect(a.length).toBe(b.length);
  let m = 0;
  for (let i = 0; i < a.length; i++) m = Math.max(m, Math.abs(a[i] - b[i]));
  return m;
}

let kl: AutoencoderKL;
let tiny: AutoencoderTiny;
beforeAll(async () => {
  await initBackend();
  kl = await AutoencoderKL.load(path.join(FIX, 'vae_kl'));
  tiny = await AutoencoderTiny.load(path.join(FIX, 'taesd'));
});
afterAll(async () => {
  await kl.dispose();
  await tiny.dispose();
});

test('the classes check the config class', async () => {
  await expect(AutoencoderTiny.load(path.join(FIX, 'vae_kl'))).rejects.toThrow(/_class_name is AutoencoderKL, not AutoencoderTiny/);
  expect(TfAutoencoder.fromCheckpoint(kl.checkpoint)).toBeInstanceOf(AutoencoderKL);
});

test('decode gives diffusers postprocessed pixels: NHWC, (sample / 2 + 0.5) clamped to [0, 1]', async () => {
  const shape: [number, number, number, number] = [1, 4, 8, 8];
  const latents = wave(4 * 64, 0.7, 2);
  const sample = await kl.decodeDiffusers(latents, shape);
  const pixels = await kl.decode(latents, shape);
  expect(pixels.length).toBe(16 * 16 * 3);
  let clamped = 0;
  for (let y = 0; y < 16; y++)
    for (let x = 0; x < 16; x++)
      for (let c = 0; c < 3; c++) {
        const s = sample[c * 256 + y * 16 + x] / 2 + 0.5;
        if (s < 0 || s > 1) clamped++;
        expect(pixels[(y * 16 + x) * 3 + c]).toBeCloseTo(Math.min(1, Math.max(0, s)), 6);
      }
  expect(clamped).toBeGreaterThan(0); // the random VAE leaves [-1, 1], so the clamp was exercised
});

test('tf.grad through decodeTensor equals decodeVjp, and the clamp passes no gradient', async () => {
  const shape: [number, number, number, number] = [1, 4, 8, 8];
  const latents = wave(4 * 64, 0.7, 2);
  const g = wave(16 * 16 * 3, 1.3);
  const viaGrad = tf.tidy(() => tf.grad((z: tf.Tensor) => tf.sum(tf.mul(kl.decodeTensor(z as tf.Tensor4D), tf.tensor4d(g, [1, 16, 16, 3]))))(tf.tensor4d(latents, shape)));
  const { pixels, gradLatents } = await kl.decodeVjp(latents, shape, g);
  expect(maxAbsDiff((await viaGrad.data()) as Float32Array, gradLatents)).toBeLessThan(1e-5);
  viaGrad.dispose();
  // The same through the diffusers output: d/d sample = ½ · g (NCHW) where the pixel is not clamped.
  const gs = new Float32Array(3 * 256);
  for (let y = 0; y < 16; y++)
    for (let x = 0; x < 16; x++)
      for (let c = 0; c < 3; c++) {
        const p = pixels[(y * 16 + x) * 3 + c];
        gs[c * 256 + y * 16 + x] = p > 0 && p < 1 ? 0.5 * g[(y * 16 + x) * 3 + c] : 0;
      }
  const viaSample = await kl.decodeDiffusersVjp(latents, shape, gs);
  expect(maxAbsDiff(viaSample.gradLatents, gradLatents)).toBeLessThan(1e-5);
});

test('a batch decodes like its images one by one (GroupNorm statistics are per image)', async () => {
  const a = wave(4 * 6 * 10, 0.9);
  const b = wave(4 * 6 * 10, 0.4, 1.5);
  const both = await kl.decodeDiffusers(Float32Array.from([...a, ...b]), [2, 4, 6, 10]);
  const one = await kl.decodeDiffusers(a, [1, 4, 6, 10]);
  const two = await kl.decodeDiffusers(b, [1, 4, 6, 10]);
  expect(maxAbsDiff(both, Float32Array.from([...one, ...two]))).toBeLessThan(1e-5);
});

test('a latent channel count the decoder does not take is a one-line UserError', async () => {
  const err = await tiny.decode(new Float32Array(3 * 16), [1, 3, 4, 4]).catch((e: unknown) => e);
  expect(err).toBeInstanceOf(UserError);
  expect((err as Error).message).toMatch(/latents have 3 channels; this decoder takes 4$/);
  await expect(kl.decodeVjp(new Float32Array(4 * 16), [1, 4, 4, 4], new Float32Array(7))).rejects.toThrow(/output gradient holds 7 values/);
  await expect(kl.decode(new Float32Array(5), [1, 4, 4, 4])).rejects.toThrow(/latents hold 5 values, but shape \[1,4,4,4\] needs 64/);
});

test('encoders: latent shapes, the posterior sample with the caller noise, TAESD unscaled', async () => {
  const pixels = wave(2 * 16 * 16 * 3, 0.37).map((v) => 0.5 + 0.5 * v);
  const mean = await kl.encode(pixels, [2, 16, 16, 3]);
  expect(mean.length).toBe(2 * 4 * 8 * 8);
  const noise = wave(mean.length, 2.1);
  const sampled = await kl.encode(pixels, [2, 16, 16, 3], { noise });
  // z = (μ + σ·ε)·s: the difference is σ·ε·s with σ = exp(½ logvar) > 0, so it has ε's sign.
  let agree = 0;
  for (let i = 0; i < mean.length; i++) if (Math.sign(sampled[i] - mean[i]) === Math.sign(noise[i])) agree++;
  expect(agree).toBe(mean.length);
  const { mean: mu, logvar } = kl.encodeTensor(tf.tensor4d(pixels, [2, 16, 16, 3]));
  const expected = tf.tidy(() => tf.mul(tf.add(mu, tf.mul(tf.exp(tf.mul(tf.clipByValue(logvar!, -30, 20), 0.5)), tf.tensor4d(noise, mu.shape))), 0.18215));
  expect(maxAbsDiff((await expected.data()) as Float32Array, sampled)).toBeLessThan(1e-5);
  tf.dispose([mu, logvar!, expected]);
  // TAESD: deterministic, scaling_factor 1: encode = the raw encoder output; decode takes it back to 64².
  const img = wave(64 * 64 * 3, 0.11).map((v) => 0.5 + 0.4 * v);
  const z = await tiny.encode(img, [1, 64, 64, 3]);
  expect(z.length).toBe(4 * 8 * 8);
  expect(await tiny.encode(img, [1, 64, 64, 3], { noise: new Float32Array(z.length).fill(1) })).toEqual(z);
  expect((await tiny.decode(z, [1, 4, 8, 8])).length).toBe(64 * 64 * 3);
  await expect(tiny.encode(new Float32Array(60 * 64 * 3), [1, 60, 64, 3])).rejects.toThrow(/image size 60×64 is not a multiple of 8/);
});

test('no tfjs tensors leak from the array methods', async () => {
  const shape: [number, number, number, number] = [1, 4, 8, 8];
  const latents = wave(4 * 64, 0.7);
  const g = wave(16 * 16 * 3, 1.3);
  const pixels = wave(16 * 16 * 3, 0.2).map((v) => 0.5 + 0.5 * v);
  const all = async () => {
    await kl.decode(latents, shape);
    await kl.decodeVjp(latents, shape, g);
    await kl.decodeDiffusersVjp(latents, shape, wave(3 * 16 * 16, 0.5));
    await kl.encode(pixels, [1, 16, 16, 3], { noise: wave(4 * 64, 0.9) });
  };
  await all(); // first calls make the kept flipped filters and encoder weights
  const before = tf.memory().numTensors;
  await all();
  expect(tf.memory().numTensors).toBe(before);
});
