import { annotate, annotatorPool, type AnnotationTask } from './annotators';
import { Rng } from './rng';

const task: AnnotationTask = {
  uid: 'u1',
  caption: 'two red balls on the left',
  width: 100,
  height: 100,
  latent: { plausibility: 0.6, alignment: 0.3, aesthetics: 0.9, overall: 0.55 },
  artifactRegions: [{ box: [10, 10, 30, 20], severity: 0.3 }, { box: [60, 60, 64, 90], severity: 0.2 }],
  misalignmentRegions: [{ box: [40, 40, 50, 50] }],
  misalignedWords: [1],
  contentWords: [0, 1, 2, 5],
};

const inside = (p: [number, number], b: number[]) => p[0] >= b[0] && p[0] <= b[2] && p[1] >= b[1] && p[1] <= b[3];

test('perfect annotators (noise 0): exact Likert rounding, every region marked inside, exact words', () => {
  const anns = annotate(new Rng(1), annotatorPool(1, 0), task);
  expect(anns).toHaveLength(3);
  expect(new Set(anns.map((a) => a.annotator)).size).toBe(3);
  for (const a of anns) {
    expect([a.plausibility, a.alignment, a.aesthetics, a.overall]).toEqual([3, 2, 5, 3]); // round(1 + 4·latent)
    expect(a.misaligned_words).toEqual([1]);
    for (const r of task.artifactRegions) expect(a.artifact_points.some((p) => inside(p, r.box))).toBe(true);
    for (const p of a.artifact_points) expect(task.artifactRegions.some((r) => inside(p, r.box))).toBe(true);
    expect(a.misalignment_points.length).toBeGreaterThan(0);
    for (const p of a.misalignment_points) expect(inside(p, task.misalignmentRegions[0].box)).toBe(true);
  }
});

test('noisy annotators disagree but stay near the truth, within the image', () => {
  const pool = annotatorPool(2);
  const all = [...Array(200).keys()].flatMap((i) => annotate(new Rng(2, i), pool, task));
  const mean = (k: 'plausibility' | 'alignment') => all.reduce((s, a) => s + a[k], 0) / all.length;
  expect(Math.abs(mean('plausibility') - 3.4)).toBeLessThan(0.4);
  expect(Math.abs(mean('alignment') - 2.2)).toBeLessThan(0.4);
  expect(new Set(all.map((a) => a.plausibility)).size).toBeGreaterThan(1);
  const flagged = all.filter((a) => a.misaligned_words.includes(1)).length / all.length;
  expect(flagged).toBeGreaterThan(0.75);
  expect(flagged).toBeLessThan(1);
  const pts = all.flatMap((a) => a.artifact_points);
  for (const [x, y] of pts) expect(x >= 0 && x <= 100 && y >= 0 && y <= 100).toBe(true);
  const near = pts.filter((p) => task.artifactRegions.some((r) => inside(p, [r.box[0] - 5, r.box[1] - 5, r.box[2] + 5, r.box[3] + 5])));
  expect(near.length / pts.length).toBeGreaterThan(0.9);
  // Some regions are missed by some annotators.
  expect(all.some((a) => !a.artifact_points.some((p) => inside(p, [5, 5, 35, 25])))).toBe(true);
});

test('the pool is a function of the seed', () => {
  expect(annotatorPool(3)).toEqual(annotatorPool(3));
  expect(annotatorPool(3)).not.toEqual(annotatorPool(4));
});
