import * as fs from 'fs';
import * as os from 'os';
import * as path from 'path';
import { initBackend } from './backend';
import { BUNDLED_CHECKPOINT } from './bundled';
import { UserError } from './errors';
import { RgbImage } from './image';
import { checkpointKey } from './onnx/export-cache';
import { OnnxScorer } from './onnx/onnx-scorer';
import { OrtScoreGrad } from './onnx/ort-score-grad';
import { SCORE_NAMES } from './rahf/config';
import { RewardModel } from './rahf/model';
import { chooseEngine, openRewardGradient, openScorer } from './open';

/*
 * openScorer / openRewardGradient on the bundled tiny checkpoint: both engines give the same numbers
 * through the one verb and the one gradient contract, and the onnxruntime engine's export cache is
 * reused, renewed when the checkpoint changes, and never trusts a half-written export.
 */

let tmp: string;
beforeAll(async () => {
  await initBackend();
  tmp = fs.mkdtempSync(path.join(os.tmpdir(), 'rahf-open-'));
});
afterAll(() => fs.rmSync(tmp, { recursive: true, force: true }));

function image(w: number, h: number, seed: number): RgbImage {
  const data = new Float32Array(w * h * 3);
  for (let i = 0; i < data.length; i++) data[i] = ((i * 37 + seed * 101 + ((i / 7) | 0)) & 255) / 255;
  return { data, width: w, height: h };
}

function pixels(n: number, seed: number): Float32Array {
  return Float32Array.from({ length: n }, (_, i) => 0.5 + 0.45 * Math.sin(i * 0.731 + seed) * Math.cos(i * 0.0173));
}

const maxDiff = (a: ArrayLike<number>, b: ArrayLike<number>) => Math.max(...Array.from(a, (v, i) => Math.abs(v - b[i])));

test('auto means onnxruntime on a CPU backend; engines are checked', () => {
  expect(chooseEngine()).toBe('ort');
  expect(chooseEngine('tfjs')).toBe('tfjs');
  expect(() => chooseEngine('gpu' as never)).toThrow(UserError);
  expect(() => chooseEngine('gpu' as never)).toThrow(/engine "gpu": expected auto, ort, tfjs/);
});

test('openScorer: both engines score alike through the one verb, with the same defaults', async () => {
  const cacheDir = path.join(tmp, 'cache-a');
  const tfjs = await openScorer(undefined, { engine: 'tfjs', cacheDir });
  const onnx = await openScorer(undefined, { engine: 'ort', cacheDir, threads: 1 });
  try {
    expect(tfjs).toBeInstanceOf(RewardModel);
    expect(onnx).toBeInstanceOf(OnnxScorer);
    expect([tfjs.engine, onnx.engine]).toEqual(['tfjs', 'ort']);
    const prompts = ['a red cube', 'two blue balls', 'a green cone'];
    const imgs = [image(150, 100, 1), image(128, 128, 2), image(64, 90, 3)];
    const [a, b] = [await tfjs.score(imgs, prompts), await onnx.score(imgs, prompts)];
    // Scores only by default, whichever engine.
    for (const fb of [...a, ...b]) expect(Object.keys(fb).sort()).toEqual(['scores']);
    for (const t of SCORE_NAMES) expect(maxDiff(a.map((f) => f.scores[t]), b.map((f) => f.scores[t]))).toBeLessThan(1e-4);
    // A Float32Array of pixels in [0, 1] at another size, resized inside the verb.
    const px = pixels(2 * 72 * 96 * 3, 5);
    const opts = { size: [72, 96] as [number, number], heatmaps: true, keywords: true, maxNewTokens: 6 };
    const [c, d] = [await tfjs.score(px, prompts.slice(0, 2), opts), await onnx.score(px, prompts.slice(0, 2), opts)];
    for (const t of SCORE_NAMES) expect(maxDiff(c.map((f) => f.scores[t]), d.map((f) => f.scores[t]))).toBeLessThan(1e-4);
    expect(c.map((f) => f.keywordSequence)).toEqual(d.map((f) => f.keywordSequence));
    expect(c[0].heatmaps!.implausibility.width).toBe(d[0].heatmaps!.implausibility.width);
    expect(maxDiff(c[1].heatmaps!.misalignment.data, d[1].heatmaps!.misalignment.data)).toBeLessThan(1e-4);
    await expect(onnx.score(px, ['one prompt'], { size: [72, 96] })).rejects.toThrow(/pixel array holds .* expected 1×72×96×3/);
    await expect(tfjs.score(px, ['one prompt'], { size: [72, 96] })).rejects.toThrow(/pixel array holds .* expected 1×72×96×3/);
  } finally {
    await tfjs.dispose();
    await onnx.dispose();
  }
});

test('openScorer: options set the scorer defaults; int8 is onnxruntime only', async () => {
  const cacheDir = path.join(tmp, 'cache-b');
  const s = await openScorer(undefined, { engine: 'tfjs', heatmaps: true, keywords: true, cacheDir });
  try {
    const [fb] = await s.score([image(40, 40, 4)], ['a red cube'], { maxNewTokens: 3 });
    expect(fb.heatmaps).toBeDefined();
    expect(typeof fb.keywordSequence).toBe('string');
  } finally {
    await s.dispose();
  }
  await expect(openScorer(undefined, { engine: 'tfjs', int8: true, cacheDir })).rejects.toThrow(/int8: quantised graphs run on the onnxruntime engine only/);
  await expect(openScorer(undefined, { batchSize: 0, cacheDir })).rejects.toThrow(/batchSize must be a positive integer/);
  const q = await openScorer(undefined, { int8: true, cacheDir, threads: 1 });
  try {
    expect(q.engine).toBe('ort');
    expect((q as OnnxScorer).manifest.quantize).toBe('int8');
    expect(fs.readdirSync(cacheDir).filter((f) => !f.startsWith('.'))).toEqual([checkpointKey(BUNDLED_CHECKPOINT, { int8: true })]);
  } finally {
    await q.dispose();
  }
});

test('the export cache: reused on a second open, renewed for a changed checkpoint, blind to a killed export', async () => {
  const cacheDir = path.join(tmp, 'cache-c');
  const ckpt = path.join(tmp, 'ckpt');
  fs.cpSync(BUNDLED_CHECKPOINT, ckpt, { recursive: true });
  const lines: string[] = [];
  const log = (l: string) => lines.push(l);
  const entries = () => fs.readdirSync(cacheDir).filter((f) => !f.startsWith('.')).sort();

  // A killed export: a temporary folder with a graph but no manifest, under the key this checkpoint gets.
  const key = checkpointKey(ckpt);
  fs.mkdirSync(path.join(cacheDir, `.tmp-${key}-dead`), { recursive: true });
  fs.writeFileSync(path.join(cacheDir, `.tmp-${key}-dead`, 'model.onnx'), 'torn');

  const first = await openScorer(ckpt, { engine: 'ort', cacheDir, log, threads: 1 });
  await first.dispose();
  expect(lines.filter((l) => l.startsWith('exporting'))).toHaveLength(1);
  expect(entries()).toEqual([key]);
  expect(fs.existsSync(path.join(cacheDir, `.tmp-${key}-dead`))).toBe(false); // swept: no live exporter owns it
  const manifest = path.join(cacheDir, key, 'model.rahf.json');
  const stamp = fs.statSync(manifest).mtimeMs;

  const again = await openRewardGradient(ckpt, { engine: 'ort', cacheDir, log, threads: 1 });
  await again.dispose();
  expect(again).toBeInstanceOf(OrtScoreGrad);
  expect(lines.filter((l) => l.startsWith('exporting'))).toHaveLength(1);
  expect(fs.statSync(manifest).mtimeMs).toBe(stamp);

  // Another checkpoint in the same place (here: the config rewritten) gets its own export.
  const cfg = path.join(ckpt, 'config.json');
  fs.writeFileSync(cfg, fs.readFileSync(cfg, 'utf8') + '\n');
  const changed = await openScorer(ckpt, { engine: 'ort', cacheDir, log, threads: 1 });
  await changed.dispose();
  expect(lines.filter((l) => l.startsWith('exporting'))).toHaveLength(2);
  expect(checkpointKey(ckpt)).not.toBe(key);
  expect(entries()).toEqual([key, checkpointKey(ckpt)].sort());

  // An entry whose manifest was removed by hand is exported again, not trusted.
  fs.rmSync(path.join(cacheDir, checkpointKey(ckpt), 'model.rahf.json'));
  const redone = await openScorer(ckpt, { engine: 'ort', cacheDir, log, threads: 1 });
  await redone.dispose();
  expect(lines.filter((l) => l.startsWith('exporting'))).toHaveLength(3);
  expect(fs.existsSync(path.join(cacheDir, checkpointKey(ckpt), 'model.rahf.json'))).toBe(true);
});

test('openRewardGradient: both engines give the same scores and gradient', async () => {
  const cacheDir = path.join(tmp, 'cache-a');
  const tfjs = await openRewardGradient(undefined, { engine: 'tfjs' });
  const onnx = await openRewardGradient(undefined, { engine: 'ort', cacheDir, threads: 1 });
  try {
    expect([tfjs.engine, onnx.engine]).toEqual(['tfjs', 'ort']);
    const prompts = ['a red cube', 'two blue balls'];
    const size: [number, number] = [96, 112];
    const px = pixels(2 * 96 * 112 * 3, 9);
    const weights = { aesthetics: 1, overall: 0.5 };
    const [a, b] = [await tfjs.scoreGrad(px, prompts, weights, { size }), await onnx.scoreGrad(px, prompts, weights, { size })];
    expect(a.grad.length).toBe(px.length);
    expect(b.grad.length).toBe(px.length);
    for (const t of SCORE_NAMES) expect(maxDiff(a.scores[t], b.scores[t])).toBeLessThan(1e-4);
    const scale = Math.max(...Array.from(a.grad, Math.abs));
    expect(scale).toBeGreaterThan(0);
    expect(maxDiff(a.grad, b.grad) / scale).toBeLessThan(1e-3);
    await expect(onnx.scoreGrad(px, prompts, {})).rejects.toThrow(/at least one score/);
    await expect(tfjs.scoreGrad(px, prompts, { beauty: 1 } as never, { size })).rejects.toThrow(/unknown score "beauty"/);
  } finally {
    await tfjs.dispose();
    await onnx.dispose();
  }
});
