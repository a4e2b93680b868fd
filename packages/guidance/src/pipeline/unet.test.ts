import * as fs from 'fs';
import * as os from 'os';
import * as path from 'path';
import { UserError } from '@richhf/reward';
import { writeToyUNet } from '../testing/toy-graphs';
import { OnnxUNet } from './unet';

let tmp: string;
beforeAll(() => {
  tmp = fs.mkdtempSync(path.join(os.tmpdir(), 'guide-unet-'));
});
afterAll(() => fs.rmSync(tmp, { recursive: true, force: true }));

const sample = Float32Array.from({ length: 2 * 4 * 2 * 2 }, (_, i) => (i - 16) / 8);
const ctx = { data: Float32Array.from({ length: 2 * 3 * 8 }, (_, i) => (i < 24 ? 1 : -0.5)), shape: [2, 3, 8] as [number, number, number] };
/** The toy's closed form: 2·sample + t + mean(ctx of the item). */
const expected = (t: number) => sample.map((v, i) => 2 * v + t + (i < 16 ? 1 : -0.5));

async function run(name: string, opts: Parameters<typeof writeToyUNet>[1], t: number): Promise<Float32Array> {
  const file = path.join(tmp, `${name}.onnx`);
  writeToyUNet(file, opts);
  const unet = await OnnxUNet.load(file);
  try {
    expect(unet.inChannels).toBe(4);
    expect(unet.crossAttentionDim).toBe(8);
    return await unet.predict(sample, [2, 4, 2, 2], t, ctx);
  } finally {
    await unet.release();
  }
}

test('fp32 graph with an int64 timestep: a fractional timestep is truncated as diffusers does', async () => {
  expect([...(await run('f32_i64', {}, 3.7))]).toEqual([...expected(3)]);
});

test('fp32 graph with a float timestep keeps the fraction', async () => {
  const out = await run('f32_f32', { timestep: 'float32' }, 3.75);
  expect([...out]).toEqual([...expected(3.75)]);
});

test('fp16 graph: inputs converted to float16 at the boundary and the output back to float32', async () => {
  const out = await run('f16', { fp16: true, timestep: 'float16' }, 3.75);
  expect(out).toBeInstanceOf(Float32Array);
  const want = expected(3.75);
  for (let i = 0; i < want.length; i++) expect(Math.abs(out[i] - want[i])).toBeLessThanOrEqual(Math.abs(want[i]) * 2 ** -10 + 1e-3);
});

test('graphs whose inputs are not a UNet’s are one-line UserErrors naming the file', async () => {
  const file = path.join(tmp, 'wrong_names.onnx');
  writeToyUNet(file, { inputNames: ['x', 'timestep', 'context'] });
  await expect(OnnxUNet.load(file)).rejects.toThrow(
    new UserError(
      `${file}: graph inputs are (x: float32 [batch, 4, h, w], timestep: int64 [1], context: float32 [batch, seq, 8]); expected sample, timestep, encoder_hidden_states — a Stable Diffusion 1.x / 2.x UNet2DConditionModel export (SDXL-style added conditions are not supported)`,
    ),
  );
  const missing = path.join(tmp, 'absent.onnx');
  await expect(OnnxUNet.load(missing)).rejects.toThrow(`${missing}: no such file (the UNet graph)`);
  const garbage = path.join(tmp, 'garbage.onnx');
  fs.writeFileSync(garbage, 'not a model');
  await expect(OnnxUNet.load(garbage)).rejects.toThrow(new RegExp(`^${garbage}: cannot load the UNet graph \\(`));
});

test('latents of another channel count are refused before the graph runs', async () => {
  const file = path.join(tmp, 'ok.onnx');
  writeToyUNet(file);
  const unet = await OnnxUNet.load(file);
  await expect(unet.predict(new Float32Array(2 * 3 * 4), [2, 3, 2, 2], 1, ctx)).rejects.toThrow(`${file}: latents have 3 channels; this UNet takes 4`);
  await unet.release();
});
