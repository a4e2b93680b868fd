import { cooldownFactor, cosineProgress, learningRate, runProgress } from './schedule';

describe('learning-rate schedules', () => {
  it('warms up linearly, then decays as the reciprocal square root', () => {
    const s = { name: 'rsqrt' as const, lr: 1e-3, warmup: 100 };
    expect(learningRate(s, 1)).toBeCloseTo(1e-5, 12);
    expect(learningRate(s, 50)).toBeCloseTo(5e-4, 12);
    expect(learningRate(s, 100)).toBeCloseTo(1e-3, 12);
    expect(learningRate(s, 400)).toBeCloseTo(5e-4, 12);
    expect(learningRate(s, 10000)).toBeCloseTo(1e-4, 12);
    expect(learningRate({ ...s, warmup: 0 }, 4)).toBeCloseTo(5e-4, 12);
  });

  it('cosine goes from lr to minLr over the run', () => {
    const s = { name: 'cosine' as const, lr: 2e-3, warmup: 10, minLr: 2e-4 };
    expect(learningRate(s, 5, 0)).toBeCloseTo(1e-3, 12);
    expect(learningRate(s, 10, 0)).toBeCloseTo(2e-3, 12);
    expect(learningRate(s, 50, 0.5)).toBeCloseTo(1.1e-3, 12);
    expect(learningRate(s, 99, 1)).toBeCloseTo(2e-4, 12);
    expect(learningRate(s, 99, 7)).toBeCloseTo(2e-4, 12);
    expect(cosineProgress(60, 10, 110)).toBeCloseTo(0.5, 12);
    expect(cosineProgress(60, 10, undefined, 30, 120)).toBeCloseTo(0.25, 12);
    expect(cosineProgress(60, 10)).toBe(0);
  });

  it('cools down linearly to 0 over the last fraction of the run, whichever limit ends it', () => {
    expect(runProgress(30, 120)).toBeCloseTo(0.25, 12);
    expect(runProgress(30, 120, 90, 120)).toBeCloseTo(0.75, 12); // the time budget runs out first
    expect(runProgress(30, undefined, 60, 120)).toBeCloseTo(0.5, 12);
    expect(runProgress(500, 120)).toBe(1);
    expect(runProgress(30)).toBe(0);
    expect(cooldownFactor(0.5, 0.2)).toBe(1);
    expect(cooldownFactor(0.8, 0.2)).toBe(1);
    expect(cooldownFactor(0.9, 0.2)).toBeCloseTo(0.5, 12);
    expect(cooldownFactor(1, 0.2)).toBe(0);
    expect(cooldownFactor(0.99, 0)).toBe(1);
    expect(cooldownFactor(0.25, 1)).toBeCloseTo(0.75, 12);
    expect(() => cooldownFactor(0.5, 1.5)).toThrow(/cooldown must be in \[0, 1\], got 1.5/);
  });

  it('rejects step 0', () => {
    expect(() => learningRate({ name: 'rsqrt', lr: 1, warmup: 0 }, 0)).toThrow(/step must be >= 1/);
  });
});
