import { decoderFidelity } from './fidelity';

// What the proof leans on: in the bundled world the reward still reads, in decoded images, what the truth measures,
// so choosing members by the reward picks truly better ones (the ceiling the proof's guidance is measured against).

jest.setTimeout(120_000);

test('decoded members keep the reward–truth correlation, and the reward’s favourite members are truly better', async () => {
  const f = await decoderFidelity({ threads: 2 });
  expect(f.members).toBe(384);
  expect(f.mse).toBeLessThan(0.002);
  expect(f.correlation.objective.decoded).toBeGreaterThan(0.3);
  expect(Math.abs(f.correlation.objective.decoded - f.correlation.objective.rendered)).toBeLessThan(0.1);
  expect(f.selection.best.reward).toBeGreaterThan(f.selection.all.reward);
  expect(f.selection.best.truth_overall).toBeGreaterThan(f.selection.all.truth_overall + 0.1);
  expect(f.selection.best.defect_rate).toBeLessThan(f.selection.all.defect_rate - 0.3);
  // The heatmap penalty's reduction: the implausibility map flags defective members, its soft maximum more than its mean.
  expect(f.heatmap.softmax.defect).toBeGreaterThan(0.3);
  expect(f.heatmap.softmax.defect).toBeGreaterThan(f.heatmap.mean.defect);
  expect(f.heatmap.softmax.plausibility).toBeLessThan(-0.3);
});
