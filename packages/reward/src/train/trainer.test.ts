import * as fs from 'fs';
import * as os from 'os';
import * as path from 'path';
import { initBackend } from '../backend';
import { UserError } from '../errors';
import { runTrainResult, TrainCliOptions } from '../cli/train';
import { writeSynthWorld } from '../data/synth/world';
import { readSafetensors } from '../io/safetensors';
import { PRESETS } from '../rahf/presets';
import { RewardModel } from '../rahf/model';
import { synthTokenizerFile } from './tokenizer-build';
import { calibrateScoreBias, latestCheckpoint, readTrainerState } from './trainer';
import type { TrainExample } from './data';

// A micro layout (jest gives this file its own copy of the presets module): 32-pixel images, one
// 16-wide layer per tower, so a step takes tens of milliseconds.
Object.assign(PRESETS.tiny, {
  imageSize: 32,
  heatmapChannels: [4, 4, 4],
  scoreConv: [8, 4],
  scoreLinear: [8],
});
Object.assign(PRESETS.tiny.vitJson, { image_size: 32, hidden_size: 16, num_hidden_layers: 1, num_attention_heads: 2, intermediate_size: 32 });
Object.assign(PRESETS.tiny.t5Json, { d_model: 16, d_kv: 8, d_ff: 32, num_layers: 1, num_decoder_layers: 1, num_heads: 2 });

let tmp: string;
let data: string;
const quiet = { stderr: () => undefined };

beforeAll(async () => {
  await initBackend();
  tmp = fs.mkdtempSync(path.join(os.tmpdir(), 'rahf-train-'));
  data = path.join(tmp, 'world');
  await writeSynthWorld({ out: data, n: 30, seed: 3, size: 32, progress: false });
});

afterAll(() => fs.rmSync(tmp, { recursive: true, force: true }));

function base(out: string, extra: Partial<TrainCliOptions> = {}): TrainCliOptions {
  return {
    data,
    out: path.join(tmp, out),
    batchSize: 4,
    lr: 3e-3,
    warmup: 0,
    lossWeights: 'heatmap=1,score=1,keywords=1',
    checkpointEvery: 0,
    progress: false,
    ...extra,
  };
}

const bytes = (t: { data: ArrayBufferView }) => Buffer.from(t.data.buffer, t.data.byteOffset, t.data.byteLength);

function metrics(run: string): Array<Record<string, number>> {
  return fs
    .readFileSync(path.join(tmp, run, 'metrics.jsonl'), 'utf8')
    .trim()
    .split('\n')
    .map((l) => JSON.parse(l));
}

test('a few steps on a tiny set reduce the loss and write a loadable model', async () => {
  // Four examples, batch 4, no augmentation: every step sees the same examples.
  const lines: string[] = [];
  const r = await runTrainResult(base('fit', { steps: 15, limit: 4, augment: 'none', engine: 'ort' }), { stderr: (l) => lines.push(l) });
  expect(r.step).toBe(15);
  // Then the keyword threshold is calibrated on the dev split and saved with the model.
  const cal = /keyword mark bias (-?[\d.]+) \(dev keyword F1 [\d.]+, unbiased [\d.]+; 3 samples\) written to (.*)$/.exec(lines[lines.length - 1]);
  expect(cal).not.toBeNull();
  expect(cal![2]).toBe(path.join(r.modelDir, 'config.json'));
  expect(JSON.parse(fs.readFileSync(cal![2], 'utf8')).keyword_mark_bias).toBe(Number(cal![1]));
  const m = metrics('fit');
  expect(m.map((l) => l.step)).toEqual([...Array(15).keys()].map((k) => k + 1));
  const first = (m[0].loss + m[1].loss) / 2;
  const last = (m[13].loss + m[14].loss) / 2;
  expect(last).toBeLessThan(0.85 * first);
  for (const k of ['heatmap', 'score', 'keywords', 'lr', 'grad_norm', 'elapsed']) expect(typeof m[0][k]).toBe('number');
  for (const f of ['config.json', 'model.safetensors', 'tokenizer.json']) expect(fs.existsSync(path.join(r.modelDir, f))).toBe(true);
});

test('--resume continues exactly like an uninterrupted run', async () => {
  const opts = { steps: 4, checkpointEvery: 2, augment: 'paper', seed: 5, engine: 'ort' };
  await runTrainResult(base('full', opts), quiet);
  await runTrainResult(base('part', { ...opts, steps: 2 }), quiet);
  const ck = latestCheckpoint(path.join(tmp, 'part'))!;
  expect(path.basename(ck)).toBe('step-000002');
  expect(readTrainerState(ck)).toMatchObject({ step: 2, rng: { seed: 5, next_step: 3 }, optimizer: { step: 2 } });
  for (const f of ['config.json', 'model.safetensors', 'optimizer.safetensors', 'tokenizer.json']) expect(fs.existsSync(path.join(ck, f))).toBe(true);
  const r = await runTrainResult({ out: path.join(tmp, 'part'), resume: true, steps: 4, progress: false }, quiet);
  expect(r.step).toBe(4);
  const full = metrics('full');
  const part = metrics('part');
  expect(part.map((l) => l.step)).toEqual([1, 2, 3, 4]);
  for (const i of [2, 3]) {
    expect(part[i].loss).toBe(full[i].loss);
    expect(part[i].keywords).toBe(full[i].keywords);
  }
  // The weights after step 4 are bit-identical.
  const a = readSafetensors(path.join(tmp, 'full', 'model', 'model.safetensors'));
  const b = readSafetensors(path.join(tmp, 'part', 'model', 'model.safetensors'));
  expect([...b.keys()].sort()).toEqual([...a.keys()].sort());
  for (const [k, t] of a) expect(bytes(b.get(k)!).equals(bytes(t))).toBe(true);
  expect(bytes(a.get('visual_token_projection.weight')!).equals(bytes(readSafetensors(path.join(tmp, 'fit', 'model', 'model.safetensors')).get('visual_token_projection.weight')!))).toBe(false);
});

test('--cooldown ramps the rate linearly to 0 at the end of the run, and a resume may change it', async () => {
  const rsqrt = (step: number) => 3e-3 / Math.sqrt(step);
  await runTrainResult(base('cool', { steps: 6, cooldown: 0.5, checkpointEvery: 3, engine: 'ort' }), quiet);
  // Steps 1-3 are the first half (no cooldown), then factors 2/3, 1/3, 0 (progress step/6).
  const want = [1, 1, 1, 2 / 3, 1 / 3, 0].map((f, i) => f * rsqrt(i + 1));
  metrics('cool').forEach((m, i) => expect(m.lr).toBeCloseTo(want[i], 7));
  // Resumed for two more steps with a quarter of the run as cooldown: progress 7/8 → factor 1/2, then 0.
  await runTrainResult({ out: path.join(tmp, 'cool'), resume: true, steps: 8, cooldown: 0.25, progress: false }, quiet);
  const m = metrics('cool');
  expect(m.map((l) => l.step)).toEqual([1, 2, 3, 4, 5, 6, 7, 8]);
  expect(m[6].lr).toBeCloseTo(0.5 * rsqrt(7), 7);
  expect(m[7].lr).toBe(0);
  expect(readTrainerState(latestCheckpoint(path.join(tmp, 'cool'))!).options.cooldown).toBe(0.25);
});

test('a resumed run still writes its tokenizer after pruning the checkpoint it started from', async () => {
  await runTrainResult(base('prune', { steps: 2, checkpointEvery: 1, keepCheckpoints: 1, engine: 'ort' }), quiet);
  const read = (dir: string) => ['tokenizer.json', 'tokenizer_config.json'].map((f) => fs.readFileSync(path.join(dir, f), 'utf8'));
  const want = read(path.join(tmp, 'prune', 'model'));
  // Step 3's checkpoint replaces step 2's, the one the model (and its tokenizer) was loaded from.
  await runTrainResult({ out: path.join(tmp, 'prune'), resume: true, steps: 4, progress: false }, quiet);
  const ck = latestCheckpoint(path.join(tmp, 'prune'))!;
  expect(path.basename(ck)).toBe('step-000004');
  expect(fs.existsSync(path.join(tmp, 'prune', 'checkpoints', 'step-000002'))).toBe(false);
  for (const dir of [ck, path.join(tmp, 'prune', 'model')]) expect(read(dir)).toEqual(want);
});

test('--engine ort and --engine tfjs agree; the first log line names the engine', async () => {
  const run = async (engine: string) => {
    const lines: string[] = [];
    await runTrainResult(base(`engine-${engine}`, { steps: 3, limit: 4, augment: 'none', engine }), { stderr: (l) => lines.push(l) });
    return { first: lines[0], m: metrics(`engine-${engine}`) };
  };
  const ort = await run('ort');
  const tfjs = await run('tfjs');
  expect(ort.first).toMatch(/^rahf: engine ort \(onnxruntime-node, \d+ threads\)$/);
  expect(tfjs.first).toMatch(/^rahf: engine tfjs \(wasm\)$/);
  // Same init and batches: the first step's losses agree to float rounding, later ones closely.
  const rel = (a: number, b: number) => Math.abs(a - b) / Math.abs(b);
  for (const k of ['loss', 'heatmap', 'score', 'keywords', 'grad_norm']) expect(rel(ort.m[0][k], tfjs.m[0][k])).toBeLessThan(1e-4);
  expect(rel(ort.m[2].loss, tfjs.m[2].loss)).toBeLessThan(1e-2);
  // Optimizer state is shared between engines: a tfjs run resumed on ORT continues like the tfjs run.
  await runTrainResult(base('engine-cross', { steps: 2, limit: 4, augment: 'none', engine: 'tfjs', checkpointEvery: 2 }), quiet);
  await runTrainResult({ out: path.join(tmp, 'engine-cross'), resume: true, steps: 3, engine: 'ort', progress: false }, quiet);
  const cross = metrics('engine-cross');
  expect(cross.map((l) => l.step)).toEqual([1, 2, 3]);
  expect(rel(cross[2].loss, tfjs.m[2].loss)).toBeLessThan(1e-3);
});

test('--freeze-backbone trains only the projection and heads; augmented_prompt trains too', async () => {
  const lines: string[] = [];
  const r = await runTrainResult(base('frozen', { steps: 2, freezeBackbone: true, lossWeights: 'heatmap=1,score=1,keywords=0' }), { stderr: (l) => lines.push(l) });
  expect(lines.some((l) => /mark bias/.test(l))).toBe(false); // no keyword loss: nothing to calibrate
  // The same random init the trainer made (seed 0), saved untrained.
  const init = await RewardModel.fromPreset('tiny', { tokenizer: synthTokenizerFile(), seed: 0 });
  await init.save(path.join(tmp, 'init'));
  init.dispose();
  const a = readSafetensors(path.join(r.modelDir, 'model.safetensors'));
  const b = readSafetensors(path.join(tmp, 'init', 'model.safetensors'));
  const same = (k: string) => bytes(a.get(k)!).equals(bytes(b.get(k)!));
  expect([...a.keys()].filter((k) => k.startsWith('vit.') || k.startsWith('t5.')).every(same)).toBe(true);
  expect(same('visual_token_projection.weight')).toBe(false);
  // With a conv stem and its skip to the heads: its config is saved, the stem counts as backbone, the skip does not.
  const st = await runTrainResult(
    base('stem', { steps: 2, imageStem: '8,16,32', imageStemSkip: true, freezeBackbone: true, lossWeights: 'heatmap=1,score=1,keywords=0' }),
    quiet,
  );
  const stConfig = JSON.parse(fs.readFileSync(path.join(st.modelDir, 'config.json'), 'utf8'));
  expect([stConfig.image_stem, stConfig.image_stem_skip]).toEqual([[8, 16, 32], true]);
  const stemInit = await RewardModel.fromPreset('tiny', { tokenizer: synthTokenizerFile(), seed: 0, imageStem: [8, 16, 32], imageStemSkip: true });
  await stemInit.save(path.join(tmp, 'stem-init'));
  stemInit.dispose();
  const sa = readSafetensors(path.join(st.modelDir, 'model.safetensors'));
  const sb = readSafetensors(path.join(tmp, 'stem-init', 'model.safetensors'));
  const stemKeys = [...sa.keys()].filter((k) => k.startsWith('image_stem.'));
  expect(stemKeys.length).toBe(9);
  expect(stemKeys.every((k) => bytes(sa.get(k)!).equals(bytes(sb.get(k)!)))).toBe(true);
  expect(bytes(sa.get('visual_token_projection.weight')!).equals(bytes(sb.get('visual_token_projection.weight')!))).toBe(false);
  expect(bytes(sa.get('image_stem_skip.weight')!).equals(bytes(sb.get('image_stem_skip.weight')!))).toBe(false);
  const ap = await runTrainResult(base('aug', { steps: 2, variant: 'augmented_prompt' }), quiet);
  expect(JSON.parse(fs.readFileSync(path.join(ap.modelDir, 'config.json'), 'utf8')).variant).toBe('augmented_prompt');
});

test('bad input gives one-line user errors', async () => {
  const fail = (o: TrainCliOptions) => runTrainResult(o, quiet);
  await expect(fail(base('x1', { data: path.join(tmp, 'nope'), steps: 1 }))).rejects.toThrow(/--data .*nope: no such file or directory/);
  await expect(fail(base('x2', { steps: 1, lossWeights: 'heat=1' }))).rejects.toThrow('--loss-weights: unknown part "heat"');
  await expect(fail(base('x3', { steps: 1, lossWeights: 'score=-2' }))).rejects.toThrow(/score must be a number >= 0/);
  await expect(fail(base('x4', {}))).rejects.toThrow('give --steps N or --minutes M (or both)');
  await expect(fail(base('x5', { steps: 1, batchSize: 0 }))).rejects.toThrow('--batch-size must be an integer >= 1, got 0');
  await expect(fail({ out: path.join(tmp, 'x6'), resume: true, progress: false })).rejects.toThrow(/no checkpoint to resume from/);
  await expect(fail(base('fit', { steps: 1 }))).rejects.toThrow(/already holds a training run; pass --resume/);
  await expect(fail(base('x7', { steps: 1, schedule: 'linear' }))).rejects.toThrow('--schedule must be one of rsqrt, cosine, got "linear"');
  await expect(fail(base('x9', { steps: 1, engine: 'gpu' }))).rejects.toThrow('--engine must be one of ort, tfjs, auto, got "gpu"');
  await expect(fail(base('x10', { steps: 1, engine: 'ort', variant: 'augmented_prompt' }))).rejects.toThrow(
    '--engine ort: not available: the augmented_prompt variant has no ONNX training graph',
  );
  await expect(fail(base('x11', { steps: 1, imageStem: '16,x' }))).rejects.toThrow('--image-stem must be comma-separated positive integers (e.g. 16,32,64) or none, got "16,x"');
  await expect(fail(base('x12', { steps: 1, imageStem: '16', init: tmp }))).rejects.toThrow('--image-stem builds a new image tower; it cannot be combined with --init');
  await expect(fail(base('x13', { steps: 1, imageStem: 'none', imageStemSkip: true }))).rejects.toThrow('--image-stem-skip needs a stem; it cannot be combined with --image-stem none');
  await expect(fail(base('x14', { steps: 1, imageStemSkip: true, init: tmp }))).rejects.toThrow('--image-stem-skip changes the model; it cannot be combined with --init');
  await expect(fail(base('x15', { steps: 1, captionPool: true, init: tmp }))).rejects.toThrow('--caption-pool changes the model; it cannot be combined with --init');
  await expect(fail(base('x16', { steps: 1, wordGrounding: true, init: tmp }))).rejects.toThrow('--word-grounding changes the model; it cannot be combined with --init');
  await expect(fail(base('x17', { steps: 1, wordGroundingLrScale: 0 }))).rejects.toThrow('--word-grounding-lr-scale must be a number > 0, got 0');
  await expect(fail(base('x18', { steps: 1, cooldown: 1.5 }))).rejects.toThrow('--cooldown must be a fraction of the run in [0, 1], got 1.5');
  const e = await fail(base('x8', { steps: 1, lossWeights: 'bogus' })).catch((x) => x);
  expect(e).toBeInstanceOf(UserError);
  expect(String(e.message)).not.toContain('\n');
});

test('a fresh model\'s score heads start at logit(training mean) of their type', async () => {
  const model = await RewardModel.fromPreset('tiny', { tokenizer: synthTokenizerFile(), seed: 3, trainable: true });
  try {
    const means = [0.8, 0.25, 0.5, 0.6];
    const ex = (d: number) => ({ scores: Float32Array.from(means.map((m) => m + d)) }) as unknown as TrainExample;
    calibrateScoreBias(model, [ex(-0.1), ex(0.1)]);
    const last = `linear_layers.${2 * model.config.scoreLinear.length}.bias`;
    ['plausibility', 'alignment', 'aesthetics', 'overall'].forEach((t, k) => {
      const b = model.params.tensors.get(`score_predictor.${t}.${last}`)!.dataSync()[0];
      expect(b).toBeCloseTo(Math.log(means[k] / (1 - means[k])), 5);
    });
  } finally {
    model.dispose();
  }
});
