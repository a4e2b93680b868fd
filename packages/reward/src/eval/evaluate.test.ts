import * as fs from 'fs';
import * as os from 'os';
import * as path from 'path';
import { writeSynthWorld } from '../data/synth/world';
import { HEATMAP_NAMES, SCORE_NAMES } from '../rahf/config';
import { openEvalDataset } from './dataset';
import { evaluateSamples, GroundTruth, MetricAccumulator, Prediction, Predictor } from './evaluate';
import { methodJson } from './table';

let tmp: string;
let world: string;

beforeAll(async () => {
  tmp = fs.mkdtempSync(path.join(os.tmpdir(), 'eval-evaluate-'));
  world = path.join(tmp, 'world');
  await writeSynthWorld({ out: world, n: 40, seed: 4, size: 48, progress: false });
});
afterAll(() => fs.rmSync(tmp, { recursive: true, force: true }));

/** Predicts the ground truth itself. */
const oracle: Predictor = {
  name: 'oracle',
  async predict(items) {
    return items.map(({ gt }) => ({ scores: { ...gt.scores }, heatmaps: { ...gt.maps }, misaligned: [...gt.words] }));
  },
};

/** Reversed scores, inverted maps, and every word that is *not* misaligned. */
const antiOracle: Predictor = {
  name: 'anti',
  async predict(items) {
    return items.map(({ gt, caption }) => ({
      scores: Object.fromEntries(SCORE_NAMES.map((s) => [s, 1 - gt.scores[s]])),
      heatmaps: Object.fromEntries(HEATMAP_NAMES.map((h) => [h, { ...gt.maps[h], data: Array.from(gt.maps[h].data, (v) => 1 - v) }])),
      misaligned: caption.split(/[,.?!":;\s]+/).filter((w) => w && !gt.words.includes(w)),
    }));
  },
};

test('an oracle scores perfectly and its inverse scores worst: the evaluation cannot silently be wrong', async () => {
  const ds = await openEvalDataset({ data: world, split: 'train' });
  expect(ds.size).toBe(32);
  const seen: string[][] = [];
  const spy: Predictor = {
    name: 'spy',
    async predict(items) {
      seen.push(items.map((i) => i.uid));
      return items.map(() => ({}));
    },
  };
  const run = await evaluateSamples(ds.samples(), [oracle, antiOracle, spy], { batchSize: 5 });
  expect(run.n).toBe(32);
  expect(seen.map((b) => b.length)).toEqual([5, 5, 5, 5, 5, 5, 2]);

  const o = run.results.oracle;
  for (const s of SCORE_NAMES) {
    expect(o.scores[s]!.plcc).toBeCloseTo(1, 12);
    expect(o.scores[s]!.srcc).toBeCloseTo(1, 12);
    expect(run.results.anti.scores[s]!.plcc).toBeCloseTo(-1, 12);
    expect(run.results.anti.scores[s]!.srcc).toBeCloseTo(-1, 12);
  }
  for (const h of HEATMAP_NAMES) {
    const m = o.heatmaps[h]!;
    expect(m.counts.all).toBe(32);
    expect(m.counts.empty).toBeGreaterThan(0);
    expect(m.counts.nonEmpty).toBeGreaterThan(0);
    expect(m.mse_all).toBe(0);
    expect(m.mse_empty).toBe(0);
    expect(m.cc).toBeCloseTo(1, 12);
    expect(m.sim).toBeCloseTo(1, 12);
    expect(m.kld).toBeCloseTo(0, 9);
    expect(m.auc_judd).toBe(1);
    expect(m.nss).toBeGreaterThan(1);
    const a = run.results.anti.heatmaps[h]!;
    expect(a.cc).toBeCloseTo(-1, 12);
    expect(a.mse_empty).toBe(1); // an all-ones map against an empty one
    // Judd's curve joins (0,0) straight to its first threshold point, so even a reversed map keeps some area.
    expect(a.auc_judd).toBeLessThan(0.5);
  }
  expect(o.keywords).toMatchObject({ precision: 1, recall: 1, f1: 1 });
  expect(o.keywords!.tp).toBeGreaterThan(0);
  expect(run.results.anti.keywords).toMatchObject({ tp: 0, f1: 0 });
  expect(run.results.spy).toEqual({ scores: {}, heatmaps: {} });
});

function gt(uid: string, scores: number[], map: number[], words: string[] = []): GroundTruth {
  const m = { data: map, width: 2, height: 1 };
  return {
    uid,
    caption: 'a red cat',
    scores: { plausibility: scores[0], alignment: scores[1], aesthetics: scores[2], overall: scores[3] },
    maps: { implausibility: m, misalignment: m },
    words,
  };
}

test('MetricAccumulator: averages over the right samples and marks undefined metrics', () => {
  const acc = new MetricAccumulator();
  const p = (v: number, map: number[], misaligned?: string[]): Prediction => ({
    scores: { plausibility: v },
    heatmaps: { implausibility: { data: map, width: 2, height: 1 } },
    misaligned,
  });
  acc.add(gt('a', [0.1, 0, 0, 0], [0, 0], ['red']), p(0.3, [0.5, 0.5], ['red', 'cat']));
  acc.add(gt('b', [0.9, 0, 0, 0], [1, 0]), p(0.2, [0.2, 0.4], []));
  acc.add(gt('c', [0.5, 0, 0, 0], [0, 0]), p(0.1, [0, 0.1], ['cat']));
  const r = acc.result();
  expect(Object.keys(r.scores)).toEqual(['plausibility']);
  expect(r.scores.plausibility!.plcc).toBeCloseTo(-0.5, 12); // scipy.stats.pearsonr([.3,.2,.1],[.1,.9,.5])
  expect(r.scores.plausibility!.srcc).toBeCloseTo(-0.5, 12);
  const h = r.heatmaps.implausibility!;
  expect(h.counts).toEqual({ all: 3, empty: 2, nonEmpty: 1 });
  expect(h.mse_all).toBeCloseTo((0.25 + (0.64 + 0.16) / 2 + 0.005) / 3, 12);
  expect(h.mse_empty).toBeCloseTo((0.25 + 0.005) / 2, 12);
  expect(h.cc).toBeCloseTo(-1, 12); // only sample b counts: [0.2, 0.4] against [1, 0]
  expect(h.auc_judd).toBe(0.5); // Judd: one threshold (0.2) reaches (1, 1) straight from (0, 0)
  expect(r.heatmaps.misalignment).toBeUndefined();
  expect(r.keywords).toMatchObject({ tp: 1, fp: 2, fn: 0, precision: 1 / 3, recall: 1 });
  const json = methodJson(r);
  expect(json.scores!.plausibility).toEqual({ plcc: r.scores.plausibility!.plcc, srcc: r.scores.plausibility!.srcc });

  // One sample: no correlation; no empty map: MSE-empty undefined → null in JSON.
  const one = new MetricAccumulator();
  one.add(gt('a', [0.1, 0, 0, 0], [1, 0]), p(0.3, [0.5, 0.5]));
  const r1 = one.result();
  expect(r1.scores.plausibility!.plcc).toBeNaN();
  expect(r1.heatmaps.implausibility!.mse_empty).toBeNaN();
  expect(r1.keywords).toBeUndefined();
  const j1 = methodJson(r1);
  expect(j1.scores!.plausibility).toEqual({ plcc: null, srcc: null });
  expect(j1.heatmaps!.implausibility!.mse_empty).toBeNull();
  expect(JSON.stringify(j1)).not.toMatch(/NaN/);
});

test('MetricAccumulator: a method must predict the same outputs for every sample', () => {
  const acc = new MetricAccumulator();
  acc.add(gt('a', [0.1, 0, 0, 0], [0, 0]), { scores: { plausibility: 0.5 }, misaligned: [] });
  expect(() => acc.add(gt('b', [0.1, 0, 0, 0], [0, 0]), { scores: {}, misaligned: [] })).toThrow(/sample b: no plausibility score predicted/);
  expect(() => acc.add(gt('c', [0.1, 0, 0, 0], [0, 0]), { scores: { plausibility: 0.5, alignment: 0.2 }, misaligned: [] })).toThrow(
    /sample c: alignment score predicted, but earlier samples had none/,
  );
  expect(() => acc.add(gt('d', [0.1, 0, 0, 0], [0, 0]), { scores: { plausibility: NaN }, misaligned: [] })).toThrow(/sample d: predicted plausibility score is NaN/);
});

test('evaluateSamples rejects a predictor that loses samples and duplicate names', async () => {
  const ds = await openEvalDataset({ data: world });
  const lossy: Predictor = { name: 'lossy', predict: async (items) => items.slice(1).map(() => ({})) };
  await expect(evaluateSamples(ds.samples(), [lossy])).rejects.toThrow(/predictor lossy: 3 predictions for 4 samples/);
  await expect(evaluateSamples(ds.samples(), [oracle, oracle])).rejects.toThrow(/two predictors named "oracle"/);
  await expect(evaluateSamples(ds.samples(), [oracle], { batchSize: 0 })).rejects.toThrow(/batch size/);
});
