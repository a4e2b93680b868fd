import * as fs from 'fs';
import * as os from 'os';
import * as path from 'path';
import { initBackend } from '../backend';
import { BUNDLED_CHECKPOINT, BUNDLED_TOKENIZER } from '../bundled';
import { SCORE_NAMES, ScoreName } from '../rahf/config';
import { RewardModel } from '../rahf/model';
import { exportRahf } from './export';
import { exportRahfGraph } from './export-rahf';
import { OrtScoreGrad } from './ort-score-grad';
import { relErr } from '../parity/fixtures';

/*
 * The heatmap penalty on the onnxruntime engine (OrtScoreGrad) against the tfjs one (RewardModel.scoreGrad, itself
 * checked against a central difference in rahf/reward-gradient.test.ts): scores, penalty and gradient agree; the
 * penalty-free graph has no heatmap head; an export without the heatmaps graph says the penalty needs it.
 */

beforeAll(async () => {
  await initBackend();
});

const pixels = (n: number, seed: number) => Float32Array.from({ length: n }, (_, i) => 0.5 + 0.45 * Math.sin(i * 0.731 + seed) * Math.cos(i * 0.0173));

async function compare(model: RewardModel, g: OrtScoreGrad, b: number, h: number, prompts: string[], weights: Partial<Record<ScoreName, number>>, lambda: number) {
  const px = pixels(b * h * h * 3, h + b);
  const opts = { size: [h, h] as [number, number], heatmapPenalty: lambda };
  const ref = await model.scoreGrad(px, prompts, weights, opts);
  const got = await g.scoreGrad(px, prompts, weights, opts);
  for (const t of SCORE_NAMES) expect(relErr(got.scores[t], ref.scores[t])).toBeLessThan(1e-4);
  expect(relErr(got.penalty!, ref.penalty!)).toBeLessThan(1e-4);
  // The penalty's part of the gradient alone, so a score term cannot hide it.
  const off = await g.scoreGrad(px, prompts, weights, { size: [h, h] });
  const d = got.grad.map((v, i) => v - off.grad[i]);
  expect(Math.max(...Array.from(d, Math.abs))).toBeGreaterThan(0);
  expect(relErr(got.grad, ref.grad)).toBeLessThan(1e-4);
  const refOff = await model.scoreGrad(px, prompts, weights, { size: [h, h] });
  expect(relErr(d, ref.grad.map((v, i) => v - refOff.grad[i]))).toBeLessThan(1e-4);
}

describe('OrtScoreGrad with a heatmap penalty', () => {
  test('bundled checkpoint: the engines agree at the model size (batch 2) and through the resize', async () => {
    const model = await RewardModel.load(BUNDLED_CHECKPOINT);
    const g = new OrtScoreGrad(model, { threads: 2 });
    try {
      await compare(model, g, 2, 128, ['a red circle', 'two blue squares'], { aesthetics: 1, overall: 1 }, 3);
      await compare(model, g, 1, 96, ['a green triangle'], { overall: 1 }, 10);
    } finally {
      await g.dispose();
      model.dispose();
    }
  });

  test('augmented-prompt tiny model: the heatmap pass has its own task prompt, the engines still agree', async () => {
    const model = await RewardModel.fromPreset('tiny', { tokenizer: BUNDLED_TOKENIZER, seed: 4, variant: 'augmented_prompt' });
    const g = new OrtScoreGrad(model, { threads: 2 });
    try {
      await compare(model, g, 1, 128, ['a house by a lake'], { alignment: 1 }, 1);
    } finally {
      await g.dispose();
      model.dispose();
    }
  });

  test('λ = 0 builds today’s graph (no heatmap head) and gives the penalty-free result; the penalty graph has only the implausibility head', async () => {
    const model = await RewardModel.load(BUNDLED_CHECKPOINT);
    const g = new OrtScoreGrad(model, { threads: 2 });
    try {
      // Only heatmap heads have transposed convolutions: count their weights (both heads: 2 per head's layer).
      const deconv = (inits: { name: string }[]) => inits.filter((t) => /deconv/.test(t.name)).length;
      const both = deconv(exportRahfGraph(model, 'heatmaps').build().initializers);
      expect(both).toBeGreaterThan(0);
      expect(deconv(g.buildModel(1, 128, 128, [6], ['overall']).graph.initializers)).toBe(0);
      expect(deconv(g.buildModel(1, 128, 128, [6], ['overall'], true).graph.initializers)).toBe(both / 2);
      const px = pixels(128 * 128 * 3, 2);
      const none = await g.scoreGrad(px, ['a cat'], { overall: 1 });
      const on = await g.scoreGrad(px, ['a cat'], { overall: 1 }, { heatmapPenalty: 5 });
      const zero = await g.scoreGrad(px, ['a cat'], { overall: 1 }, { heatmapPenalty: 0 });
      expect(zero.penalty).toBeUndefined();
      expect(Buffer.from(zero.grad.buffer).equals(Buffer.from(none.grad.buffer))).toBe(true);
      expect(on.penalty).toHaveLength(1);
      expect(relErr(on.grad, none.grad)).toBeGreaterThan(1e-3); // the session cache keeps the two graphs apart
      await expect(g.scoreGrad(px, ['a cat'], { overall: 1 }, { heatmapPenalty: NaN })).rejects.toThrow(/^OrtScoreGrad: heatmapPenalty NaN: expected a finite number ≥ 0$/);
      await expect(g.scoreGrad(px, ['a cat'], { overall: 1 }, { heatmapPenalty: -1 })).rejects.toThrow(/heatmapPenalty -1/);
    } finally {
      await g.dispose();
      model.dispose();
    }
  });

  test('from a `rahf export` folder: the penalty needs the heatmaps graph, and with it matches the in-memory model', async () => {
    const model = await RewardModel.fromPreset('tiny', { tokenizer: BUNDLED_TOKENIZER, seed: 7 });
    const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'ort-scoregrad-penalty-'));
    const g = new OrtScoreGrad(model, { threads: 2 });
    try {
      exportRahf(model, path.join(dir, 'plain', 'model.onnx'));
      exportRahf(model, path.join(dir, 'heat', 'model.onnx'), { heatmaps: true });
      const px = pixels(128 * 128 * 3, 5);
      const plain = OrtScoreGrad.fromExport(path.join(dir, 'plain'), { threads: 2 });
      await expect(plain.scoreGrad(px, ['a cat'], { overall: 1 }, { heatmapPenalty: 1 })).rejects.toThrow(/plain\/model\.rahf\.json has no heatmaps graph; heatmapPenalty needs one/);
      expect((await plain.scoreGrad(px, ['a cat'], { overall: 1 })).penalty).toBeUndefined();
      await plain.dispose();
      const heat = OrtScoreGrad.fromExport(path.join(dir, 'heat'), { threads: 2 });
      const a = await g.scoreGrad(px, ['a cat'], { overall: 1 }, { heatmapPenalty: 2 });
      const b = await heat.scoreGrad(px, ['a cat'], { overall: 1 }, { heatmapPenalty: 2 });
      await heat.dispose();
      expect(relErr(b.grad, a.grad)).toBeLessThan(1e-6);
      expect(b.penalty![0]).toBeCloseTo(a.penalty![0], 6);
    } finally {
      await g.dispose();
      model.dispose();
      fs.rmSync(dir, { recursive: true, force: true });
    }
  });
});
