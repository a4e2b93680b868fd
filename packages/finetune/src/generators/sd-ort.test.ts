import * as fs from 'fs';
import * as os from 'os';
import * as path from 'path';
import sharp from 'sharp';
import { exportDecoderOnnx, readVaeCheckpoint } from '@richhf/guidance';
import { buildAll } from '../builder';
import { ColourScorer } from '../testing/fake-scorer';
import { verifyOutput } from '../verify';
import { openGenerator } from './open';
import { SdOrtGenerator } from './sd-ort';

// The in-process Stable Diffusion generator on the tiny SD model of @richhf/guidance's fixtures (its text
// encoder and UNet graphs, its AutoencoderKL exported as vae_decoder/: 16×16 images from 8×8 latents).

const GUIDANCE = path.dirname(require.resolve('@richhf/guidance/package.json'));
const FIX = path.join(GUIDANCE, 'test', 'fixtures', 'parity', 'diffusers');
let dir: string;
let model: string;

beforeAll(async () => {
  dir = fs.mkdtempSync(path.join(os.tmpdir(), 'ft-sdort-'));
  model = path.join(dir, 'sd_tiny');
  const sub = (n: string) => (fs.mkdirSync(path.join(model, n), { recursive: true }), path.join(model, n));
  const sd = JSON.parse(fs.readFileSync(path.join(FIX, 'schedulers.json'), 'utf8')).sd_config;
  fs.mkdirSync(model, { recursive: true });
  fs.writeFileSync(path.join(model, 'model_index.json'), JSON.stringify({ _class_name: 'OnnxStableDiffusionPipeline', scheduler: ['diffusers', 'DDIMScheduler'], text_encoder: ['diffusers', 'OnnxRuntimeModel'], tokenizer: ['transformers', 'CLIPTokenizer'], unet: ['diffusers', 'OnnxRuntimeModel'], vae_decoder: ['diffusers', 'OnnxRuntimeModel'] }));
  fs.writeFileSync(path.join(sub('scheduler'), 'scheduler_config.json'), JSON.stringify({ _class_name: 'DDIMScheduler', ...sd, clip_sample: false, set_alpha_to_one: false }));
  // A CLIP BPE vocabulary small enough for the fixture text encoder's 99 ids (pad 0, bos 49, eos 98).
  const vocab: Record<string, number> = { '!': 0, a: 1, c: 2, d: 3, e: 4, r: 9, t: 10, 'a</w>': 11, 'd</w>': 12, re: 22, 'red</w>': 23, ca: 24, 'cat</w>': 25, '<|startoftext|>': 49, '<|endoftext|>': 98 };
  fs.writeFileSync(path.join(sub('tokenizer'), 'vocab.json'), JSON.stringify(vocab));
  fs.writeFileSync(path.join(model, 'tokenizer', 'merges.txt'), '#version: 0.2\nr e\nre d</w>\nc a\nca t</w>\n');
  fs.writeFileSync(path.join(model, 'tokenizer', 'tokenizer_config.json'), JSON.stringify({ bos_token: '<|startoftext|>', eos_token: '<|endoftext|>', unk_token: '<|endoftext|>', pad_token: '!', model_max_length: 16 }));
  fs.copyFileSync(path.join(FIX, 'sd_tiny', 'text_encoder', 'model.onnx'), path.join(sub('text_encoder'), 'model.onnx'));
  fs.copyFileSync(path.join(FIX, 'sd_tiny', 'unet', 'model.onnx'), path.join(sub('unet'), 'model.onnx'));
  await exportDecoderOnnx(await readVaeCheckpoint(path.join(FIX, 'vae_kl')), path.join(sub('vae_decoder'), 'model.onnx'), { withConfig: true });
});
afterAll(() => fs.rmSync(dir, { recursive: true, force: true }));

test('N candidates from one pipeline call, each from its own seed: the same seed gives the same image in any batch', async () => {
  const g = await openGenerator(`sd-ort:${model}`, { params: { steps: 3, height: 16, width: 16, guidance_scale: 7.5 } });
  try {
    const req = { promptId: 'p', promptKey: 'p', prompt: 'a red cat', n: 3, seeds: [11, 12, 13] };
    const c = await g.generate(req);
    expect(c.map((x) => [x.index, x.seed])).toEqual([[0, 11], [1, 12], [2, 13]]);
    expect(c[0].settings).toMatchObject({ generator: 'sd-ort', steps: 3, width: 16, height: 16, guided: false });
    const meta = await sharp(c[0].bytes).metadata();
    expect([meta.format, meta.width, meta.height]).toEqual(['png', 16, 16]);
    expect(c[0].pixels!.data).toHaveLength(16 * 16 * 3);
    expect(Buffer.compare(Buffer.from(c[0].bytes), Buffer.from(c[1].bytes))).not.toBe(0);
    const alone = await g.generate({ ...req, n: 1, seeds: [12] });
    expect(Buffer.from(alone[0].bytes).equals(Buffer.from(c[1].bytes))).toBe(true);
  } finally {
    await g.close();
  }
});

test('a guidance hook steers every step; the builder runs on the in-process pipeline', async () => {
  let steps = 0;
  const g = await SdOrtGenerator.open(model, { params: { steps: 2, height: 16, width: 16 } }, { hook: (ctx) => (steps++, ctx.modelOutput) });
  const prompts = path.join(dir, 'p.txt');
  fs.writeFileSync(prompts, 'a red cat\na cat\n');
  const out = path.join(dir, 'out');
  const s = await buildAll({ prompts, generator: g, n: 2, out, progress: false, scorer: new ColourScorer(), formats: ['webdataset'] });
  await g.close();
  expect(steps).toBe(4); // 2 prompts × 2 steps
  expect(s).toMatchObject({ processed: 2, candidates: 4, accepted: 2 });
  expect((await verifyOutput(out)).problems).toEqual([]);
  expect(g.describe).toMatchObject({ kind: 'sd-ort', guided: true, steps: 2 });
});
