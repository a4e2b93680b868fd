import * as fs from 'fs';
import * as os from 'os';
import * as path from 'path';
import * as ort from 'onnxruntime-node';
import { readVaeCheckpoint } from './checkpoint';
import { exportDecoderOnnx } from './export-onnx';
import { OrtDecoder } from './ort-decoder';

const FIX = path.resolve(__dirname, '../../test/fixtures/parity/diffusers');
const wave = (n: number, k: number, amp = 1) => Float32Array.from({ length: n }, (_, i) => amp * Math.sin(i * k + 0.3));

let tmp: string;
beforeAll(() => {
  tmp = fs.mkdtempSync(path.join(os.tmpdir(), 'guidance-export-'));
});
afterAll(() => fs.rmSync(tmp, { recursive: true, force: true }));

test.each(['vae_kl', 'taesd'])("%s: optimum's vae_decoder graph (latent_sample = latents / scaling_factor → sample) at any size", async (name) => {
  const dec = await OrtDecoder.load(path.join(FIX, name));
  const file = path.join(tmp, name, 'vae_decoder', 'model.onnx');
  exportDecoderOnnx(dec, file, { withConfig: true });
  expect(fs.readdirSync(path.dirname(file)).sort()).toEqual(['config.json', 'model.onnx']);
  expect(JSON.parse(fs.readFileSync(path.join(path.dirname(file), 'config.json'), 'utf8'))._class_name).toBe(dec.checkpoint.arch.kind);
  const session = await ort.InferenceSession.create(file);
  try {
    expect(session.inputNames).toEqual(['latent_sample']);
    expect(session.outputNames).toEqual(['sample']);
    for (const shape of [
      [1, 4, 4, 4],
      [2, 4, 6, 10],
    ] as [number, number, number, number][]) {
      const latents = wave(shape.reduce((a, b) => a * b, 1), 0.7, 2);
      const sf = dec.scalingFactor;
      const out = await session.run({ latent_sample: new ort.Tensor('float32', latents.map((v) => v / sf), shape) });
      expect(out.sample.dims).toEqual([shape[0], 3, shape[2] * dec.upscale, shape[3] * dec.upscale]);
      const want = await dec.decodeDiffusers(latents, shape);
      let err = 0;
      let scale = 0;
      for (let i = 0; i < want.length; i++) {
        scale = Math.max(scale, Math.abs(want[i]));
        err = Math.max(err, Math.abs((out.sample.data as Float32Array)[i] - want[i]));
      }
      expect(err / scale).toBeLessThan(1e-5);
    }
  } finally {
    await session.release();
    await dec.dispose();
  }
});

test('writes the checkpoint given directly, replacing the file whole', async () => {
  const ckpt = await readVaeCheckpoint(path.join(FIX, 'vae_kl'));
  const file = path.join(tmp, 'direct.onnx');
  fs.writeFileSync(file, 'old');
  exportDecoderOnnx(ckpt, file);
  expect(fs.statSync(file).size).toBeGreaterThan(ckpt.tensors.get('decoder.conv_in.weight')!.data.byteLength);
  expect(fs.readdirSync(tmp).filter((f) => f.includes('.tmp-'))).toEqual([]);
});
