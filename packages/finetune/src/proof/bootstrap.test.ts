import { bootstrapMean, excludesZero, pairedDifference } from './bootstrap';

describe('bootstrap intervals', () => {
  test('a mean lies inside its interval; more data, a narrower interval; the same data, the same interval', () => {
    const small = Array.from({ length: 50 }, (_, i) => (i % 3 === 0 ? 1 : 0));
    const large = Array.from({ length: 2000 }, (_, i) => (i % 3 === 0 ? 1 : 0));
    const a = bootstrapMean(small);
    const b = bootstrapMean(large);
    expect(a.lo).toBeLessThan(a.value);
    expect(a.hi).toBeGreaterThan(a.value);
    expect(b.hi - b.lo).toBeLessThan((a.hi - a.lo) / 3);
    expect(bootstrapMean(small)).toEqual(a);
    // For a share p the 95 % half-width is about 1.96·√(p(1−p)/n).
    expect((b.hi - b.lo) / 2).toBeCloseTo(1.96 * Math.sqrt((1 / 3) * (2 / 3) / 2000), 2);
  });

  test('paired differences: a real shift excludes 0, noise around no shift does not', () => {
    const base = Array.from({ length: 600 }, (_, i) => ((i * 7919) % 13) / 13);
    const shifted = base.map((v, i) => v - 0.05 + (((i * 31) % 7) - 3) / 100);
    const same = base.map((v, i) => v + (((i * 31) % 7) - 3) / 100);
    const d = pairedDifference(base, shifted);
    expect(d.value).toBeCloseTo(-0.05, 2);
    expect(excludesZero(d)).toBe(true);
    expect(excludesZero(pairedDifference(base, same))).toBe(false);
    expect(() => pairedDifference([1], [1, 2])).toThrow(/1 against 2/);
  });
});
