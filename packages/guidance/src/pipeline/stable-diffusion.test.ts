import * as fs from 'fs';
import * as os from 'os';
import * as path from 'path';
import { UserError } from '@richhf/reward';
import { exportDecoderOnnx, readVaeCheckpoint } from '../decoders';
import { type LatentDecoder } from '../decoders/decoder';
import { packageFixturesDir } from '../testing/parity';
import { writeSdTinyFolder } from '../testing/sd-tiny';
import { writeToyUNet } from '../testing/toy-graphs';
import { type StepContext } from './hooks';
import { StableDiffusion, type GenerateOptions } from './stable-diffusion';

// Behaviour of the pipeline on an optimum-layout folder built from the sd_tiny fixtures (tiny CLIP vocabulary,
// the fixtures' text encoder and UNet, vae_decoder/ exported from ../vae_kl, whose 2 blocks make 16 px images
// from 8×8 latents).

let tmp: string;
let modelDir: string;
let pipe: StableDiffusion;

beforeAll(async () => {
  tmp = fs.mkdtempSync(path.join(os.tmpdir(), 'guide-sd-'));
  modelDir = path.join(tmp, 'sd_tiny_onnx');
  const vae = await readVaeCheckpoint(path.join(packageFixturesDir(), 'vae_kl'));
  await writeSdTinyFolder(modelDir, { vaeDecoder: async (dir) => exportDecoderOnnx(vae, path.join(dir, 'model.onnx'), { withConfig: true }) });
  pipe = await StableDiffusion.fromPretrained(modelDir);
});
afterAll(async () => {
  await pipe?.dispose();
  fs.rmSync(tmp, { recursive: true, force: true });
});

const base: GenerateOptions = { prompt: 'a red cat', height: 16, width: 16, steps: 4, seed: 5 };

test('the folder loads: scheduler from its config, tokenizer, decoder from vae_decoder/', () => {
  expect(pipe.scheduler.name).toBe('ddim');
  expect(pipe.schedulerNote).toBeUndefined();
  expect(pipe.tokenizer?.maxLength).toBe(16);
  expect(pipe.unet.inChannels).toBe(4);
  expect(pipe.decoder?.scalingFactor).toBe(0.18215);
  expect(pipe.vaeScaleFactor).toBe(2);
});

test('prompts to images: [0, 1] NHWC pixels, seeds reported, the same seed the same image', async () => {
  const a = await pipe.generate(base);
  expect(a.imageShape).toEqual([1, 16, 16, 3]);
  expect(a.latentShape).toEqual([1, 4, 8, 8]);
  expect(a.images!.every((v) => v >= 0 && v <= 1)).toBe(true);
  expect(a.seeds).toEqual([5]);
  expect(a.prompts).toEqual(['a red cat']);
  expect(a.timings.steps).toBe(4);
  expect(a.timings.unet).toBeGreaterThan(0);
  const again = await pipe.generate(base);
  expect(again.images).toEqual(a.images);
  const other = await pipe.generate({ ...base, seed: 6 });
  expect(other.images).not.toEqual(a.images);
  const random = await pipe.generate({ ...base, seed: undefined });
  expect(Number.isInteger(random.seeds[0])).toBe(true);
});

test('batches: an image does not depend on the rest of its batch; prompts × images per prompt in order', async () => {
  const batch = await pipe.generate({ ...base, prompt: ['a red cat', 'a photo'], numImagesPerPrompt: 2, seed: [5, 7, 8, 9] });
  expect(batch.prompts).toEqual(['a red cat', 'a red cat', 'a photo', 'a photo']);
  expect(batch.imageShape).toEqual([4, 16, 16, 3]);
  const alone = await pipe.generate(base);
  const n = 16 * 16 * 3;
  const first = batch.images!.subarray(0, n);
  for (let i = 0; i < n; i++) expect(Math.abs(first[i] - alone.images![i])).toBeLessThan(1e-5);
  const third = await pipe.generate({ ...base, prompt: 'a photo', seed: 8 });
  const got = batch.images!.subarray(2 * n, 3 * n);
  for (let i = 0; i < n; i++) expect(Math.abs(got[i] - third.images![i])).toBeLessThan(1e-5);
});

test('the hook sees every step before the scheduler and can replace the model output; onStepEnd can replace latents', async () => {
  const seen: Array<Pick<StepContext, 'step' | 't' | 'prompts' | 'guidanceScale'> & { cfg: boolean }> = [];
  const plain = await pipe.generate({ ...base, output: 'latents' });
  const watched = await pipe.generate({
    ...base,
    output: 'latents',
    hook: (ctx) => {
      seen.push({ step: ctx.step, t: ctx.t, prompts: ctx.prompts, guidanceScale: ctx.guidanceScale, cfg: ctx.modelOutputUncond !== undefined });
      expect(ctx.noiseLevel).toEqual(ctx.scheduler.noiseLevel(ctx.t));
    },
  });
  expect(watched.latents).toEqual(plain.latents);
  pipe.scheduler.setTimesteps(4);
  expect(seen).toEqual(pipe.scheduler.timesteps.map((t, step) => ({ step, t, prompts: ['a red cat'], guidanceScale: 7.5, cfg: true })));
  const zeroed = await pipe.generate({ ...base, output: 'latents', hook: (ctx) => new Float32Array(ctx.modelOutput.length) });
  expect(zeroed.latents).not.toEqual(plain.latents);
  const ends: number[] = [];
  const cleared = await pipe.generate({
    ...base,
    output: 'latents',
    onStepEnd: (ctx) => {
      ends.push(ctx.step);
      return ctx.step === 3 ? new Float32Array(ctx.latents.length) : undefined;
    },
    onProgress: (done, total) => expect(total).toBe(4),
  });
  expect(ends).toEqual([0, 1, 2, 3]);
  expect(cleared.latents.every((v) => v === 0)).toBe(true);
});

test('guidance scale 1 runs the conditional branch alone', async () => {
  let uncond: unknown = 'unset';
  await pipe.generate({ ...base, guidanceScale: 1, hook: (ctx) => void (uncond = ctx.modelOutputUncond) });
  expect(uncond).toBeUndefined();
});

test.each(['euler', 'euler-a', 'ddpm'] as const)('scheduler %s by name: finite, reproducible images', async (scheduler) => {
  const a = await pipe.generate({ ...base, scheduler });
  expect(a.scheduler).toBe(scheduler);
  expect(a.latents.every(Number.isFinite)).toBe(true);
  expect((await pipe.generate({ ...base, scheduler })).images).toEqual(a.images);
});

test('bad generate options are one-line UserErrors naming the option, raised before any model runs', async () => {
  let unetCalls = 0;
  const predict = pipe.unet.predict.bind(pipe.unet);
  pipe.unet.predict = (...args) => {
    unetCalls++;
    return predict(...args);
  };
  try {
    const cases: Array<[GenerateOptions, string]> = [
      [{ ...base, height: 20 }, 'height 20: not a multiple of 8'],
      [{ ...base, width: 100 }, 'width 100: not a multiple of 8'],
      [{ ...base, steps: 0 }, 'steps 0: expected an integer ≥ 1'],
      [{ ...base, scheduler: 'heun' as never }, "scheduler 'heun': unknown scheduler; expected one of ddim, euler, euler-a, ddpm"],
      [{ ...base, seed: [1, 2] }, 'seed: 2 seeds for 1 images'],
      [{ ...base, latents: new Float32Array(10) }, 'latents: 10 values; [1,4,8,8] (images, channels, height/2, width/2) needs 256'],
      [{ ...base, prompt: undefined }, 'prompt: required (or promptEmbeds)'],
    ];
    for (const [opts, msg] of cases) await expect(pipe.generate(opts)).rejects.toThrow(new UserError(msg));
    expect(unetCalls).toBe(0);
  } finally {
    pipe.unet.predict = predict;
  }
});

describe('folders that are not usable', () => {
  const copy = (name: string) => {
    const dir = path.join(tmp, name);
    fs.cpSync(modelDir, dir, { recursive: true });
    return dir;
  };

  test('no UNet', async () => {
    const dir = copy('no_unet');
    fs.rmSync(path.join(dir, 'unet'), { recursive: true });
    await expect(StableDiffusion.fromPretrained(dir)).rejects.toThrow(new UserError(`${path.join(dir, 'unet', 'model.onnx')}: no such file (expected the optimum ONNX layout: model_index.json, scheduler/, tokenizer/, text_encoder/, unet/, vae_decoder/)`));
  });

  test('a UNet graph with other inputs', async () => {
    const dir = copy('odd_unet');
    writeToyUNet(path.join(dir, 'unet', 'model.onnx'), { inputNames: ['sample', 'timestep', 'text_embeds'] });
    await expect(StableDiffusion.fromPretrained(dir)).rejects.toThrow(new RegExp(`^${path.join(dir, 'unet', 'model.onnx')}: graph inputs are \\(sample: float32 \\[batch, 4, h, w\\], timestep: int64 \\[1\\], text_embeds: float32 \\[batch, seq, 8\\]\\); expected sample, timestep, encoder_hidden_states`));
  });

  test('text embeddings narrower than the UNet cross-attention', async () => {
    const dir = copy('wide_unet');
    writeToyUNet(path.join(dir, 'unet', 'model.onnx'), { hidden: 64 });
    await expect(StableDiffusion.fromPretrained(dir)).rejects.toThrow(/cross-attention takes 64-wide text embeddings but .* gives 32/);
  });

  test('a decoder for other latents', async () => {
    const threeChannels: LatentDecoder = { latentChannels: 3, scalingFactor: 1, upscale: 8, decode: async () => new Float32Array(0), dispose: async () => undefined };
    await expect(StableDiffusion.fromPretrained(modelDir, { decoder: threeChannels })).rejects.toThrow('decoder: the decoder takes 3-channel latents but');
  });

  test('no tokenizer: prompts are refused, embeddings still work', async () => {
    const dir = copy('no_tokenizer');
    fs.rmSync(path.join(dir, 'tokenizer'), { recursive: true });
    const p = await StableDiffusion.fromPretrained(dir);
    try {
      await expect(p.generate(base)).rejects.toThrow(`${dir}: no tokenizer/ (vocab.json + merges.txt or tokenizer.json); pass promptEmbeds and negativePromptEmbeds`);
      // The ids the tiny tokenizer gives "a red cat" and "", encoded directly: the same image as from the prompt.
      const pad = (ids: number[]) => [...ids, ...new Array(16 - ids.length).fill(0)];
      const [cond, uncond] = await Promise.all([p.textEncoder.encode([pad([49, 11, 23, 25, 98])]), p.textEncoder.encode([pad([49, 98])])]);
      const viaEmbeds = await p.generate({ ...base, prompt: undefined, promptEmbeds: cond, negativePromptEmbeds: uncond });
      expect(viaEmbeds.images).toEqual((await pipe.generate(base)).images);
    } finally {
      await p.dispose();
    }
  });

  test('a hub id that is not cached, offline', async () => {
    await expect(StableDiffusion.fromPretrained('nobody/no-such-model', { offline: true, cacheDir: tmp })).rejects.toThrow(
      new UserError(`nobody/no-such-model@main: not found in the Hugging Face cache ${tmp} (offline mode: HF_HUB_OFFLINE or offline option)`),
    );
  });

  test("a scheduler class without a port falls back to DDIM on the folder's schedule, with a note", async () => {
    const dir = copy('pndm');
    const file = path.join(dir, 'scheduler', 'scheduler_config.json');
    fs.writeFileSync(file, JSON.stringify({ ...JSON.parse(fs.readFileSync(file, 'utf8')), _class_name: 'PNDMScheduler' }));
    const p = await StableDiffusion.fromPretrained(dir);
    try {
      expect(p.scheduler.name).toBe('ddim');
      expect(p.schedulerNote).toBe(`${file}: PNDMScheduler has no port here; sampling with DDIM on its noise schedule`);
      expect(p.schedulerFor('euler').config.beta_schedule).toBe('scaled_linear');
    } finally {
      await p.dispose();
    }
  });
});
