import { UserError } from '@richhf/reward';
import { GaussianGenerator } from '../random';
import { DDIMScheduler, DDPMScheduler, EulerDiscreteScheduler, type Scheduler } from '../schedulers';
import { LinearDecoder, QuadraticReward } from '../testing/guidance-fakes';
import { RewardGuidance, rewardGuidance, type RewardGuidanceOptions } from './reward-guidance';

// A user's own loop around a scheduler of this package, guided (or not) by `guide`. The model is the exact
// denoiser of standard normal data (x̂₀ = √ᾱ·v, so ε̂ = √(1−ᾱ)·v): its samples move continuously with guidance.
// The reward and decoder are the exact stand-ins of testing/guidance-fakes.

const D = 64;
const shape: [number, number, number, number] = [3, 4, 4, 4];
const gaussianEps = (v: Float32Array, alphaBar: number) => v.map((x) => Math.sqrt(1 - alphaBar) * x);
const SD = { beta_schedule: 'scaled_linear', beta_start: 0.00085, beta_end: 0.012, clip_sample: false } as const;

async function sample(scheduler: Scheduler, guide?: RewardGuidance, opts: { steps?: number; postStep?: boolean } = {}): Promise<Float32Array> {
  const steps = opts.steps ?? 8;
  scheduler.setTimesteps(steps);
  const gens = [0, 1, 2].map((s) => new GaussianGenerator(s));
  let x: Float32Array = new Float32Array(3 * D);
  gens.forEach((g, i) => g.fill(x.subarray(i * D, (i + 1) * D)));
  x = x.map((v) => v * scheduler.initNoiseSigma);
  for (const [i, t] of scheduler.timesteps.entries()) {
    const level = scheduler.noiseLevel(t);
    const model = async (s: Float32Array) => gaussianEps(scheduler.scaleModelInput(s, t), level.alphaBar);
    const eps = await model(x);
    const ctx = { step: i, numSteps: steps, t, sample: x, shape, modelOutput: eps, scheduler, prompts: ['a', 'b', 'c'], predict: model };
    const g = guide && !opts.postStep ? await guide.step(ctx) : { modelOutput: eps, sample: x };
    const out = scheduler.step(g.modelOutput, t, g.sample, { generator: gens });
    x = out.prevSample;
    if (guide && opts.postStep) x = (await guide.onStepEnd({ ...ctx, noiseLevel: level, latents: x, predOriginalSample: out.predOriginalSample, modelOutputUncond: undefined, modelOutputCond: undefined, guidanceScale: 1 })) ?? x;
  }
  return x;
}

async function rewardOf(x: Float32Array): Promise<number> {
  const r = await new QuadraticReward().scoreGrad(await new LinearDecoder().decode(x, shape), ['a', 'b', 'c'], { overall: 1 });
  return r.scores.overall.reduce((s, v) => s + v, 0) / 3;
}

const make = (o: Partial<RewardGuidanceOptions> = {}) => rewardGuidance({ reward: new QuadraticReward(), decoder: new LinearDecoder(), weights: { overall: 1 }, ...o });
const schedulers = (): [string, () => Scheduler][] => [
  ['ddim', () => new DDIMScheduler(SD)],
  ['euler', () => new EulerDiscreteScheduler(SD)],
  ['ddpm', () => new DDPMScheduler(SD)],
];

test.each(schedulers())('%s: scale 0, or a window with no step in it, gives exactly the unguided latents (no reward call)', async (_, mk) => {
  const plain = await sample(mk());
  for (const guide of [make({ scale: 0 }), make({ scale: 3, window: { from: 0.9, to: 1 } }), make({ scale: [0, 0, 0, 0, 0, 0, 0, 0] })]) {
    const x = await sample(mk(), guide);
    expect(Buffer.from(x.buffer).equals(Buffer.from(plain.buffer))).toBe(true);
    expect(guide.stats.evaluations).toBe(0);
  }
  // The same window one step wider does guide (so the check above can fail).
  expect(Buffer.from((await sample(mk(), make({ scale: 3, window: { from: 0.85, to: 1 } }))).buffer).equals(Buffer.from(plain.buffer))).toBe(false);
});

test.each(schedulers())('%s: guidance raises the reward of the final images (ε adapter, post-step adapter, recurrence)', async (_, mk) => {
  const base = await rewardOf(await sample(mk()));
  for (const [guide, post] of [
    [make({ scale: 4 }), false],
    [make({ scale: 4 }), true],
    [make({ scale: 4, recurrence: 3 }), false],
  ] as const) {
    const r = await rewardOf(await sample(mk(), guide, { postStep: post }));
    expect(r).toBeGreaterThan(base + 1e-3);
    expect(guide.stats.guided).toBe(3 * 8 * guide.recurrence);
    expect(guide.stats.skipped).toBe(0);
  }
});

test('steps outside the window, or at scale 0 in a schedule, are not evaluated', async () => {
  const guide = make({ scale: (at) => (at.step === 5 ? 0 : 1), window: { from: 0.25, to: 0.75 } });
  await sample(new DDIMScheduler(SD), guide);
  expect(guide.stats.evaluations).toBe(3); // steps 2, 3, 4 (5 has scale 0)
  const bySigma = make({ window: { sigmaMax: 1 } });
  await sample(new EulerDiscreteScheduler(SD), bySigma);
  const sigmas = (() => {
    const s = new EulerDiscreteScheduler(SD);
    s.setTimesteps(8);
    return s.sigmas.slice(0, 8);
  })();
  expect(bySigma.stats.evaluations).toBe(sigmas.filter((s) => s <= 1).length);
});

test('a NaN gradient skips that image-step (counted, warned once) and never reaches the latents', async () => {
  const warnings: string[] = [];
  const poisoned = new Set(['1:0', '3:2', '4:0']);
  const guide = rewardGuidance({ reward: new QuadraticReward(undefined, (call, i) => poisoned.has(`${call}:${i}`)), decoder: new LinearDecoder(), scale: 2, warn: (m) => warnings.push(m) });
  const x = await sample(new DDIMScheduler(SD), guide);
  expect(x.every(Number.isFinite)).toBe(true);
  expect(guide.stats.skipped).toBe(3);
  expect(guide.stats.guided).toBe(3 * 8 - 3);
  expect(warnings).toHaveLength(1);
  expect(warnings[0]).toMatch(/NaN or infinite for 1 image\(s\) at step 1; such steps are left unguided/);
});

test('the reward reads rewardPrompt when given, else the loop prompts', async () => {
  const reward = new QuadraticReward();
  await sample(new DDIMScheduler(SD), rewardGuidance({ reward, decoder: new LinearDecoder(), rewardPrompt: 'a sharp photo' }), { steps: 2 });
  expect(reward.prompts[0]).toEqual(['a sharp photo', 'a sharp photo', 'a sharp photo']);
  const own = new QuadraticReward();
  await sample(new DDIMScheduler(SD), rewardGuidance({ reward: own, decoder: new LinearDecoder() }), { steps: 2 });
  expect(own.prompts[0]).toEqual(['a', 'b', 'c']);
});

test('bad options are one-line UserErrors before any step; bad steps fail before the reward runs', async () => {
  const base = { reward: new QuadraticReward(), decoder: new LinearDecoder() };
  const cases: [Partial<RewardGuidanceOptions>, RegExp][] = [
    [{ weights: 'aesthetic=1' }, /^weights: unknown score "aesthetic"/],
    [{ scale: NaN }, /^scale NaN: expected a finite number ≥ 0$/],
    [{ scale: -1 }, /^scale -1: expected a finite number ≥ 0$/],
    [{ window: { from: 0.5, to: 1.2 } }, /^window: to 1.2 is outside \[0, 1\]/],
    [{ recurrence: 0 }, /^recurrence 0: expected an integer from 1 to 100/],
    [{ clip: 0 }, /^clip 0: expected a number > 0/],
    [{ decodeDownscale: 1.5 }, /^decodeDownscale 1.5:/],
    [{ rewardPrompt: [] }, /^rewardPrompt: expected a string or a non-empty list/],
    [{ decoder: { decode: async () => new Float32Array() } as never }, /^decoder: expected a differentiable decoder/],
  ];
  for (const [o, re] of cases) {
    let err: unknown;
    try {
      rewardGuidance({ ...base, ...o });
    } catch (e) {
      err = e;
    }
    expect(err).toBeInstanceOf(UserError);
    expect((err as Error).message).toMatch(re);
    expect((err as Error).message).not.toContain('\n');
  }
  const scheduler = new DDIMScheduler(SD);
  scheduler.setTimesteps(4);
  const ctx = { step: 0, numSteps: 4, t: scheduler.timesteps[0], sample: new Float32Array(3 * D), shape, modelOutput: new Float32Array(3 * D), scheduler, prompts: ['a', 'b', 'c'] };
  const reward = new QuadraticReward();
  await expect(rewardGuidance({ reward, decoder: new LinearDecoder(3) }).step(ctx)).rejects.toThrow(new UserError('guidance decoder: takes 3-channel latents but the sampler makes 4'));
  await expect(rewardGuidance({ reward, decoder: new LinearDecoder(), recurrence: 2 }).step(ctx)).rejects.toThrow(/recurrence 2: this loop cannot re-run its model/);
  await expect(rewardGuidance({ reward, decoder: new LinearDecoder(), rewardPrompt: ['x', 'y'] }).step(ctx)).rejects.toThrow(/rewardPrompt: 2 prompts for a batch of 3/);
  await expect(rewardGuidance({ reward, decoder: new LinearDecoder() }).step({ ...ctx, prompts: ['', '', ''] })).rejects.toThrow(/no prompt for the reward/);
  expect(reward.calls).toBe(0);
});
