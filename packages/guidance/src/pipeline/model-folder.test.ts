import * as fs from 'fs';
import * as os from 'os';
import * as path from 'path';
import { UserError } from '@richhf/reward';
import { resolveSdFolder } from './model-folder';

let tmp: string;
beforeEach(() => {
  tmp = fs.mkdtempSync(path.join(os.tmpdir(), 'guide-folder-'));
});
afterEach(() => fs.rmSync(tmp, { recursive: true, force: true }));

const touch = (...p: string[]) => {
  fs.mkdirSync(path.join(tmp, ...p.slice(0, -1)), { recursive: true });
  fs.writeFileSync(path.join(tmp, ...p), '{}');
};

test('the optimum layout: required graphs, optional parts found when present', async () => {
  touch('unet', 'model.onnx');
  touch('text_encoder', 'model.onnx');
  let f = await resolveSdFolder(tmp);
  expect([f.tokenizerDir, f.schedulerConfig, f.vaeDecoderDir, f.vaeEncoderDir]).toEqual([undefined, undefined, undefined, undefined]);
  touch('tokenizer', 'vocab.json');
  touch('tokenizer', 'merges.txt');
  touch('scheduler', 'scheduler_config.json');
  touch('vae_decoder', 'model.onnx');
  touch('model_index.json');
  f = await resolveSdFolder(tmp);
  expect(f.tokenizerDir).toBe(path.join(tmp, 'tokenizer'));
  expect(f.schedulerConfig).toBe(path.join(tmp, 'scheduler', 'scheduler_config.json'));
  expect(f.vaeDecoderDir).toBe(path.join(tmp, 'vae_decoder'));
});

test('a PyTorch diffusers folder gets the export command as its hint', async () => {
  touch('unet', 'diffusion_pytorch_model.safetensors');
  await expect(resolveSdFolder(tmp)).rejects.toThrow(
    new UserError(`${path.join(tmp, 'unet', 'model.onnx')}: no such file (this is a PyTorch diffusers folder; export it with \`optimum-cli export onnx --model <it> <out dir>\`)`),
  );
});

test('no text encoder, a broken model_index.json, a path that is neither folder nor repo id', async () => {
  touch('unet', 'model.onnx');
  await expect(resolveSdFolder(tmp)).rejects.toThrow(`${path.join(tmp, 'text_encoder', 'model.onnx')}: no such file (the CLIP text encoder of the optimum layout)`);
  touch('text_encoder', 'model.onnx');
  fs.writeFileSync(path.join(tmp, 'model_index.json'), '{');
  await expect(resolveSdFolder(tmp)).rejects.toThrow(new RegExp(`^${path.join(tmp, 'model_index.json')}: not JSON`));
  await expect(resolveSdFolder(path.join(tmp, 'nope', 'x'))).rejects.toThrow(UserError);
});
