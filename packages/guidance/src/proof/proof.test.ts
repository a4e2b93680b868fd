import { UserError } from '@richhf/reward';
import { runProof } from './proof';

// A small version of `guide proof` (16 seeds, the default settings, scales 0 and the default 1): the direction
// of the full proof — guidance raises the reward and the true overall score — and the result's shape.

jest.setTimeout(300_000);

test('guided sampling raises the reward and the true overall score at equal seeds; samples end at set members', async () => {
  const r = await runProof({ seeds: 16, scales: [0], threads: 2 });
  expect(Object.keys(r).sort()).toEqual(['convergence', 'delta', 'guided', 'hacking', 'n', 'scale', 'seeds', 'settings', 'skipped', 'steps', 'sweep', 'unguided', 'weights']);
  expect([r.n, r.scale, r.steps]).toEqual([16, 1, 50]);
  expect(Object.keys(r.unguided.truth).sort()).toEqual(['aesthetics', 'alignment', 'defect_rate', 'overall', 'plausibility']);
  for (const k of ['reward', 'plausibility', 'alignment', 'aesthetics', 'overall', 'defect_rate'] as const) {
    expect(r.delta[k].lo).toBeLessThanOrEqual(r.delta[k].value);
    expect(r.delta[k].hi).toBeGreaterThanOrEqual(r.delta[k].value);
  }
  expect(r.delta.reward.value).toBeGreaterThan(0);
  expect(r.delta.overall.value).toBeGreaterThan(0);
  expect(r.guided.truth.overall - r.unguided.truth.overall).toBeCloseTo(r.delta.overall.value, 10);
  expect(r.sweep.map((p) => p.scale)).toEqual([0, 1]);
  expect(r.sweep[0].truth_overall).toBeCloseTo(r.unguided.truth.overall, 10);
  expect(r.convergence.max_distance).toBeLessThan(1e-3 * r.convergence.member_spacing);
  for (const p of r.sweep) expect(p.max_distance).toBeLessThan(1e-3 * r.convergence.member_spacing);
  expect(r.convergence.other_prompt).toBe(0);
  expect(r.skipped).toBe(0);
});

test('bad options are one-line errors before any model loads', async () => {
  await expect(runProof({ seeds: 1 })).rejects.toThrow(new UserError('seeds 1: expected an integer ≥ 2'));
  await expect(runProof({ weights: 'beauty=1' })).rejects.toThrow(/unknown score "beauty"/);
  await expect(runProof({ scale: -1 })).rejects.toThrow(/scale -1: expected a finite number ≥ 0/);
  await expect(runProof({ jacobian: 'exact' as never })).rejects.toThrow(/jacobian exact: expected forward or model/);
  await expect(runProof({ heatmapPenalty: -1 })).rejects.toThrow(/^heatmapPenalty -1: expected a finite number ≥ 0/);
  await expect(runProof({ bundle: '/nonexistent/bundle' })).rejects.toThrow(/no manifest.json/);
});
