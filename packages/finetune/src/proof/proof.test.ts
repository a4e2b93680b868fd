import * as fs from 'fs';
import * as os from 'os';
import * as path from 'path';
import { openScorer, type Scorer } from '@richhf/reward';
import { proofChecks } from '../cli/proof';
import { runProof } from './proof';

// A small version of `finetune proof`: the bundled generator, the bundled reward, 24 training prompts, best of 8,
// a short finetune, 120 held-out samples. The full run's figures are in the README; here only the direction.
let dir: string;
let scorer: Scorer;
beforeAll(async () => {
  dir = fs.mkdtempSync(path.join(os.tmpdir(), 'ft-proof-'));
  scorer = await openScorer(undefined, { engine: 'ort', cacheDir: path.join(dir, 'cache'), log: () => undefined });
});
afterAll(async () => {
  await scorer.dispose();
  fs.rmSync(dir, { recursive: true, force: true });
});

test('best-of-8 by RAHF plausibility, finetuned, makes fewer true artifacts on held-out prompts; the JSON has the documented shape', async () => {
  const work = path.join(dir, 'work');
  const { result: r, sets } = await runProof({ work, prompts: 24, samples: 120, steps: 30, batch: 32, lr: 1e-3, scorer, progress: false, log: () => undefined });
  expect(Object.keys(r)).toEqual(['n', 'original', 'finetuned', 'control', 'by_overall', 'delta', 'control_delta', 'by_overall_delta']);
  expect(Object.keys(r.original)).toEqual(['defect_rate', 'plausibility', 'alignment', 'reward_plausibility']);
  expect(Object.keys(r.delta)).toEqual(['defect_rate', 'plausibility', 'alignment']);
  for (const d of [r.delta, r.control_delta, r.by_overall_delta]) for (const iv of Object.values(d)) expect(iv.lo).toBeLessThanOrEqual(iv.hi);
  expect(r.n).toBe(120);
  // Selection works on truth: the kept set has fewer artifacts than the random control's.
  expect(sets.plausibility.defect_rate).toBeLessThan(sets.random.defect_rate);
  // The finetuned generator makes fewer artifacts than the original, by more than the interval's width.
  expect(r.delta.defect_rate.hi).toBeLessThan(0);
  expect(r.finetuned.defect_rate.value).toBeLessThan(r.original.defect_rate.value);
  expect(proofChecks(r)[0].line).toMatch(/^plausibility selection lowers the true defect rate by -?[\d.]+ % relative/);
  // A second seed reuses the sets and finetuned models: only the evaluation runs again (on fewer samples here).
  const before = fs.statSync(path.join(work, 'models', 'plausibility', 'model.safetensors')).mtimeMs;
  const other = await runProof({ work, seed: 1, prompts: 24, samples: 48, steps: 30, batch: 32, lr: 1e-3, scorer, progress: false, log: () => undefined });
  expect(fs.statSync(path.join(work, 'models', 'plausibility', 'model.safetensors')).mtimeMs).toBe(before);
  expect(other.result.original).not.toEqual(r.original);
  expect(fs.existsSync(path.join(work, 'proof-seed1.json'))).toBe(true);
  // Another finetuning recipe on the same work folder is refused, not mixed with the models there.
  await expect(runProof({ work, seed: 1, prompts: 24, samples: 48, steps: 30, batch: 32, lr: 1e-3, replay: 1, scorer, progress: false, log: () => undefined })).rejects.toThrow(
    `--work ${work}: ${path.join(work, 'models', 'plausibility')} was finetuned with {"steps":30,"lr":0.001,"replay":0,"trainable":"all"}, not {"steps":30,"lr":0.001,"replay":1,"trainable":"all"}; choose another --work`,
  );
});
