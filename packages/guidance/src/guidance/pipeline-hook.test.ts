import * as fs from 'fs';
import * as os from 'os';
import * as path from 'path';
import { exportDecoderOnnx, loadDecoder, readVaeCheckpoint, type VaeDecoder } from '../decoders';
import { StableDiffusion, type GenerateOptions } from '../pipeline/stable-diffusion';
import { packageFixturesDir } from '../testing/parity';
import { writeSdTinyFolder } from '../testing/sd-tiny';
import { QuadraticReward } from '../testing/guidance-fakes';
import { rewardGuidance } from './reward-guidance';

// The part-1 pipeline takes guidance as its hook (ε adapter) or its step-end callback (post-step adapter):
// sd_tiny's UNet with CFG, the vae_kl fixture as the differentiable decoder (onnxruntime gradient graph).

let tmp: string;
let pipe: StableDiffusion;
let vae: VaeDecoder;

beforeAll(async () => {
  tmp = fs.mkdtempSync(path.join(os.tmpdir(), 'guide-hook-'));
  const kl = path.join(packageFixturesDir(), 'vae_kl');
  const ckpt = await readVaeCheckpoint(kl);
  await writeSdTinyFolder(tmp, { vaeDecoder: async (dir) => exportDecoderOnnx(ckpt, path.join(dir, 'model.onnx'), { withConfig: true }) });
  pipe = await StableDiffusion.fromPretrained(tmp);
  vae = await loadDecoder(kl, { threads: 1 });
});
afterAll(async () => {
  await pipe?.dispose();
  await vae?.dispose();
  fs.rmSync(tmp, { recursive: true, force: true });
});

const base: GenerateOptions = { prompt: 'a red cat', numImagesPerPrompt: 2, height: 16, width: 16, steps: 5, seed: 3, output: 'latents' };
const same = (a: Float32Array, b: Float32Array) => Buffer.from(a.buffer, a.byteOffset, a.byteLength).equals(Buffer.from(b.buffer, b.byteOffset, b.byteLength));

test('scale 0 through the hook and the step-end callback gives exactly the unguided latents', async () => {
  const plain = await pipe.generate(base);
  const reward = new QuadraticReward();
  const guide = rewardGuidance({ reward, decoder: vae, scale: 0 });
  expect(same((await pipe.generate({ ...base, hook: guide.hook })).latents, plain.latents)).toBe(true);
  expect(same((await pipe.generate({ ...base, onStepEnd: guide.onStepEnd })).latents, plain.latents)).toBe(true);
  expect(reward.calls).toBe(0);
  const on = rewardGuidance({ reward, decoder: vae, scale: 50 });
  expect(same((await pipe.generate({ ...base, hook: on.hook })).latents, plain.latents)).toBe(false);
  expect(on.stats.guided).toBe(2 * 5);
});

test('guidance raises the reward of the decoded images, for DDIM and Euler', async () => {
  const score = async (latents: Float32Array) => {
    const px = await vae.decode(latents, [2, 4, 8, 8]);
    const r = await new QuadraticReward().scoreGrad(px, ['a', 'b'], { overall: 1 });
    return (r.scores.overall[0] + r.scores.overall[1]) / 2;
  };
  for (const scheduler of ['ddim', 'euler'] as const) {
    const plain = await score((await pipe.generate({ ...base, scheduler })).latents);
    const guided = await score((await pipe.generate({ ...base, scheduler, hook: rewardGuidance({ reward: new QuadraticReward(), decoder: vae, scale: 1000 }).hook })).latents);
    expect(guided).toBeGreaterThan(plain + 0.003);
  }
});

test("self-recurrence re-runs the pipeline's UNet through the step context's predict", async () => {
  const k1 = await pipe.generate({ ...base, hook: rewardGuidance({ reward: new QuadraticReward(), decoder: vae, scale: 50 }).hook });
  const guide = rewardGuidance({ reward: new QuadraticReward(), decoder: vae, scale: 50, recurrence: 3 });
  const k3 = await pipe.generate({ ...base, hook: guide.hook });
  expect(guide.stats.evaluations).toBe(5 * 3);
  expect(k3.timings.unet).toBeGreaterThan(0);
  expect(same(k3.latents, k1.latents)).toBe(false);
  expect(k3.latents.every(Number.isFinite)).toBe(true);
});
