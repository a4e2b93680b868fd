import * as fs from 'fs';
import * as os from 'os';
import * as path from 'path';
import { UserError } from '@richhf/reward';
import { exportDecoderOnnx, loadDecoder, readVaeCheckpoint } from '../decoders';
import { packageFixturesDir } from '../testing/parity';
import { writeToyUNet } from '../testing/toy-graphs';
import { OnnxVaeDecoder, samplesToPixels } from './onnx-vae-decoder';

let tmp: string;
beforeAll(() => {
  tmp = fs.mkdtempSync(path.join(os.tmpdir(), 'guide-vae-'));
});
afterAll(() => fs.rmSync(tmp, { recursive: true, force: true }));

test('an optimum vae_decoder/ decodes like the diffusers VAE it was exported from', async () => {
  const src = path.join(packageFixturesDir(), 'vae_kl');
  const dir = path.join(tmp, 'vae_decoder');
  exportDecoderOnnx(await readVaeCheckpoint(src), path.join(dir, 'model.onnx'), { withConfig: true });
  const onnx = await OnnxVaeDecoder.load(dir);
  const ref = await loadDecoder(src);
  try {
    expect([onnx.latentChannels, onnx.scalingFactor, onnx.upscale]).toEqual([4, 0.18215, 2]);
    const latents = Float32Array.from({ length: 2 * 4 * 4 * 4 }, (_, i) => Math.sin(i * 0.37) * 0.5);
    const shape: [number, number, number, number] = [2, 4, 4, 4];
    const [a, b] = [await onnx.decodeDiffusers(latents, shape), await ref.decodeDiffusers(latents, shape)];
    let err = 0;
    for (let i = 0; i < a.length; i++) err = Math.max(err, Math.abs(a[i] - b[i]));
    expect(err).toBeLessThan(1e-5);
    expect(await onnx.decode(latents, shape)).toEqual(samplesToPixels(a, [2, 3, 8, 8]));
    await expect(onnx.decode(new Float32Array(3 * 16), [1, 3, 4, 4])).rejects.toThrow(new UserError(`${onnx.file}: latents have 3 channels; this decoder takes 4`));
  } finally {
    await onnx.dispose();
    await ref.dispose();
  }
});

test('NCHW [-1, 1] samples become NHWC [0, 1] pixels, clamped', () => {
  const sample = Float32Array.from([-1, 0, 1, 3, /* ch1 */ 0.5, -0.5, -3, 0, /* ch2 */ 0, 0, 0, 0]);
  expect([...samplesToPixels(sample, [1, 3, 2, 2])]).toEqual([0, 0.75, 0.5, 0.5, 0.25, 0.5, 1, 0, 0.5, 1, 0.5, 0.5]);
});

test('a graph that is not a vae_decoder is refused naming the file', async () => {
  const dir = path.join(tmp, 'not_vae');
  fs.mkdirSync(dir);
  writeToyUNet(path.join(dir, 'model.onnx'));
  await expect(OnnxVaeDecoder.load(dir)).rejects.toThrow(new RegExp(`^${path.join(dir, 'model.onnx')}: graph inputs are .*; expected latent_sample`));
});
