import { UserError } from '@richhf/reward';
import { checkHeatmapPenalty, checkScaleSchedule, checkWindow, inWindow, parseScales, parseWeights, parseWindow, scaleAt } from './options';

const at = (step: number, numSteps = 10, sigma = 1) => ({ step, numSteps, t: 999 - step * 100, sigma });

test('weights parse from the CLI form and from records; unknown scores and bad numbers are one-line errors', () => {
  expect(parseWeights('aesthetics=1,overall=0.5')).toEqual({ aesthetics: 1, overall: 0.5 });
  expect(parseWeights('plausibility')).toEqual({ plausibility: 1 });
  expect(parseWeights({ alignment: 2 })).toEqual({ alignment: 2 });
  expect(() => parseWeights('beauty=1', '--reward')).toThrow(new UserError('--reward: unknown score "beauty" (expected plausibility, alignment, aesthetics, overall)'));
  expect(() => parseWeights('overall=x')).toThrow(/the weight of "overall" must be a finite number/);
  expect(() => parseWeights('overall=1,overall=2')).toThrow(/"overall" is given twice/);
  expect(() => parseWeights('overall=0')).toThrow(/at least one score with a non-zero weight/);
  expect(() => parseWeights({ overall: NaN })).toThrow(UserError);
});

test('scales: NaN, negative and infinite values are refused, per-step lists must match the loop', () => {
  expect(checkScaleSchedule(2)).toBe(2);
  for (const bad of [NaN, -1, Infinity]) expect(() => checkScaleSchedule(bad, 'scale')).toThrow(new RegExp(`^scale ${bad}: expected a finite number ≥ 0`));
  expect(() => checkScaleSchedule([1, -0.5])).toThrow(/scale\[1\] -0.5/);
  expect(scaleAt([0, 1, 2], at(2, 3))).toBe(2);
  expect(() => scaleAt([0, 1], at(0, 3))).toThrow(/2 per-step values for a 3-step loop/);
  expect(scaleAt(({ step }) => step / 2, at(4))).toBe(2);
  expect(() => scaleAt(() => NaN, at(1))).toThrow(/scale at step 1 NaN/);
  expect(parseScales('0, 1,2.5')).toEqual([0, 1, 2.5]);
  expect(() => parseScales('1,-2')).toThrow(/--scales -2:/);
});

test('heatmap penalty: absent is 0 (off); negative, NaN and infinite λ are one-line errors naming the option', () => {
  expect(checkHeatmapPenalty(undefined)).toBe(0);
  expect(checkHeatmapPenalty(3)).toBe(3);
  expect(() => checkHeatmapPenalty(-1, '--heatmap-penalty')).toThrow(new UserError('--heatmap-penalty -1: expected a finite number ≥ 0 (0 = no heatmap penalty)'));
  for (const bad of [NaN, Infinity]) expect(() => checkHeatmapPenalty(bad)).toThrow(new RegExp(`^heatmapPenalty ${bad}:`));
});

test('windows: fractions of the steps (half open except at 1) or σ ranges; outside [0, 1] is refused', () => {
  const w = parseWindow('0.2:0.8');
  expect([...Array(10).keys()].filter((i) => inWindow(w, at(i)))).toEqual([2, 3, 4, 5, 6, 7]);
  expect([...Array(10).keys()].filter((i) => inWindow(parseWindow(':1'), at(i)))).toHaveLength(10);
  expect(inWindow(parseWindow('sigma=0.5:2'), at(0, 10, 3))).toBe(false);
  expect(inWindow(parseWindow('sigma=0.5:'), at(0, 10, 30))).toBe(true);
  expect(() => parseWindow('0.2:1.5')).toThrow(new UserError('--window: to 1.5 is outside [0, 1] (a fraction of the steps)'));
  expect(() => parseWindow('-0.1:0.5')).toThrow(/from -0.1 is outside \[0, 1\]/);
  expect(() => parseWindow('0.8:0.2')).toThrow(/from 0.8 is after to 0.2/);
  expect(() => parseWindow('half')).toThrow(/expected FROM:TO/);
  expect(() => checkWindow({ from: 0.1, sigmaMax: 3 } as never)).toThrow(/not both/);
  expect(() => checkWindow({ sigmaMin: 2, sigmaMax: 1 })).toThrow(/below sigmaMin/);
});
