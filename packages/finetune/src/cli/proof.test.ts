import type { ProofResult } from '../proof/proof';
import { proofChecks } from './proof';

// The verdicts `finetune proof` prints (and its exit code 6) on hand-made results: the three claims.
const iv = (value: number, lo: number, hi: number) => ({ value, lo, hi });
const stats = (defect: number) => ({ defect_rate: iv(defect, defect - 0.03, defect + 0.03), plausibility: iv(0.75, 0.74, 0.76), alignment: iv(0.58, 0.56, 0.6), reward_plausibility: iv(0.78, 0.77, 0.79) });
const delta = (defect: [number, number, number], alignment: [number, number, number]) => ({ defect_rate: iv(...defect), plausibility: iv(0.1, 0.09, 0.11), alignment: iv(...alignment) });

function result(o: { finetuned: [number, number, number]; control: [number, number, number]; overallAlignment: [number, number, number] }): ProofResult {
  return {
    n: 1000,
    original: stats(0.7),
    finetuned: stats(0.7 + o.finetuned[0]),
    control: stats(0.7 + o.control[0]),
    by_overall: stats(0.5),
    delta: delta(o.finetuned, [-0.07, -0.09, -0.05]),
    control_delta: delta(o.control, [-0.01, -0.03, 0.01]),
    by_overall_delta: delta([-0.2, -0.23, -0.17], o.overallAlignment),
  };
}

test('all three hold: ≥ 25 % relative fall with an interval below 0, a control without it, alignment up with an interval above 0', () => {
  const checks = proofChecks(result({ finetuned: [-0.25, -0.28, -0.22], control: [0.003, -0.02, 0.028], overallAlignment: [0.039, 0.022, 0.056] }));
  expect(checks.map((c) => c.ok)).toEqual([true, true, true]);
  expect(checks[0].line).toBe('plausibility selection lowers the true defect rate by 35.7 % relative (≥ 25 %, interval -0.250 [-0.280, -0.220] excludes 0)');
});

test('a fall under 25 % relative, or one whose interval reaches 0, fails the first claim', () => {
  expect(proofChecks(result({ finetuned: [-0.15, -0.18, -0.12], control: [0, -0.02, 0.02], overallAlignment: [0.04, 0.02, 0.06] }))[0].ok).toBe(false);
  expect(proofChecks(result({ finetuned: [-0.2, -0.4, 0.01], control: [0, -0.02, 0.02], overallAlignment: [0.04, 0.02, 0.06] }))[0].ok).toBe(false);
});

test('a control that shows the gain fails the second claim; alignment whose interval holds 0 fails the third', () => {
  const checks = proofChecks(result({ finetuned: [-0.25, -0.28, -0.22], control: [-0.2, -0.23, -0.17], overallAlignment: [0.014, -0.003, 0.032] }));
  expect(checks.map((c) => c.ok)).toEqual([true, false, false]);
});
