import { correlations, isConstant, plcc, rankAverage, rocAuc, srcc } from './correlation';
import { meanDefined } from './saliency';

/** Deterministic pseudo-random numbers for property tests. */
function lcg(seed: number): () => number {
  let s = seed >>> 0;
  return () => {
    s = (Math.imul(s, 1664525) + 1013904223) >>> 0;
    return s / 4294967296;
  };
}

describe('rankAverage', () => {
  test('1-based ranks, ties share their average rank', () => {
    expect(Array.from(rankAverage([10, 20, 20, 5]))).toEqual([2, 3.5, 3.5, 1]);
    expect(Array.from(rankAverage([3, 3, 3]))).toEqual([2, 2, 2]);
    expect(Array.from(rankAverage([0.5, -1, 0.5, 0.5, 2]))).toEqual([3, 1, 3, 3, 5]);
  });

  test('rejects NaN', () => {
    expect(() => rankAverage([1, NaN])).toThrow(/metrics\/correlation: rankAverage: NaN at index 1/);
  });
});

describe('plcc', () => {
  test('hand case: x=[1,2,3], y=[1,2,4] → 9/√84', () => {
    expect(plcc([1, 2, 3], [1, 2, 4])).toBeCloseTo(9 / Math.sqrt(84), 14);
  });

  test('±1 for exact linear relations, invariant to affine maps', () => {
    expect(plcc([1, 2, 3, 4], [3, 5, 7, 9])).toBe(1);
    expect(plcc([1, 2, 3, 4], [-3, -5, -7, -9])).toBe(-1);
    const rnd = lcg(1);
    const x = Array.from({ length: 40 }, rnd);
    const y = x.map((v) => v + 0.3 * rnd());
    const r = plcc(x, y);
    expect(plcc(x.map((v) => 5 * v - 2), y.map((v) => 0.1 * v + 7))).toBeCloseTo(r, 13);
  });

  test('numerically careful: large offsets and huge magnitudes do not lose the answer', () => {
    const want = 9 / Math.sqrt(84);
    expect(plcc([1e9 + 1, 1e9 + 2, 1e9 + 3], [1, 2, 4])).toBeCloseTo(want, 12);
    expect(plcc([1e200, 2e200, 3e200], [1e-200, 2e-200, 4e-200])).toBeCloseTo(want, 12);
  });

  test('constant input gives NaN like scipy; shape errors throw', () => {
    expect(plcc([1, 1, 1], [1, 2, 3])).toBeNaN();
    expect(plcc([1, 2, 3], [0, 0, 0])).toBeNaN();
    expect(() => plcc([1, 2], [1, 2, 3])).toThrow(/metrics\/correlation: plcc: pred has 2 values but gt has 3/);
    expect(() => plcc([1], [1])).toThrow(/at least 2/);
  });
});

describe('srcc', () => {
  test('hand case with ties: ranks [1,2.5,2.5,4] vs [1,2,3,4] → 4.5/√22.5', () => {
    expect(srcc([1, 2, 2, 3], [1, 2, 3, 4])).toBeCloseTo(4.5 / Math.sqrt(22.5), 14);
  });

  test('1 for any strictly monotone relation', () => {
    const x = [0.1, 0.5, 0.2, 0.9, 0.3];
    expect(srcc(x, x.map((v) => Math.exp(10 * v)))).toBeCloseTo(1, 14);
    expect(srcc(x, x.map((v) => -(v ** 3)))).toBeCloseTo(-1, 14);
  });

  test('constant or NaN input gives NaN', () => {
    expect(srcc([2, 2, 2], [1, 2, 3])).toBeNaN();
    expect(srcc([1, NaN, 3], [1, 2, 3])).toBeNaN();
  });
});

describe('correlations (evaluation form)', () => {
  test('constant input → 0 and flagged; never NaN', () => {
    expect(correlations([0.5, 0.5, 0.5], [0, 0.5, 1])).toEqual({ plcc: 0, srcc: 0, constant: true });
    expect(correlations([0, 0.5, 1], [1, 1, 1])).toEqual({ plcc: 0, srcc: 0, constant: true });
    const r = correlations([1, 2, 3], [1, 2, 4]);
    expect(r.constant).toBe(false);
    expect(r.plcc).toBeCloseTo(9 / Math.sqrt(84), 14);
    expect(r.srcc).toBeCloseTo(1, 14);
  });

  test('averaging evaluation results over splits with a constant one stays finite', () => {
    const runs = [correlations([1, 1, 1], [1, 2, 3]), correlations([1, 2, 3], [1, 2, 4])];
    const m = meanDefined(runs.map((r) => r.plcc));
    expect(m.count).toBe(2);
    expect(Number.isFinite(m.mean)).toBe(true);
  });

  test('isConstant', () => {
    expect(isConstant([3, 3])).toBe(true);
    expect(isConstant([3, 3.0000001])).toBe(false);
    expect(isConstant([NaN, NaN])).toBe(false);
    expect(isConstant([])).toBe(false);
  });
});

describe('rocAuc', () => {
  /** Pairwise definition: P(score+ > score-) + ½ P(tie). */
  function naiveAuc(s: number[], l: number[]): number {
    let num = 0;
    let den = 0;
    for (let i = 0; i < s.length; i++) {
      if (!l[i]) continue;
      for (let j = 0; j < s.length; j++) {
        if (l[j]) continue;
        den++;
        num += s[i] > s[j] ? 1 : s[i] === s[j] ? 0.5 : 0;
      }
    }
    return num / den;
  }

  test('sklearn doc example: 0.75', () => {
    expect(rocAuc([0.1, 0.4, 0.35, 0.8], [0, 0, 1, 1])).toBe(0.75);
  });

  test('ties count one half', () => {
    expect(rocAuc([1, 1, 0], [1, 0, 0])).toBe(0.75);
    expect(rocAuc([0.3, 0.3, 0.3, 0.3], [1, 0, 1, 0])).toBe(0.5);
  });

  test('equals the pairwise definition on tied random data; booleans accepted', () => {
    const rnd = lcg(7);
    for (let t = 0; t < 5; t++) {
      const s = Array.from({ length: 120 }, () => Math.round(rnd() * 10) / 10);
      const l = s.map((v) => (rnd() < 0.3 + 0.4 * v ? 1 : 0));
      expect(rocAuc(s, l)).toBeCloseTo(naiveAuc(s, l), 14);
      expect(rocAuc(s, l.map((v) => v === 1))).toBe(rocAuc(s, l));
    }
  });

  test('one class only → NaN; length mismatch throws', () => {
    expect(rocAuc([0.1, 0.2], [1, 1])).toBeNaN();
    expect(rocAuc([0.1, 0.2], [0, 0])).toBeNaN();
    expect(() => rocAuc([0.1], [0, 1])).toThrow(/rocAuc: 1 scores but 2 labels/);
  });
});
