import {
  MATLAB_EPS,
  aucJudd,
  cc,
  fixationsFromHeatmap,
  heatmapMetrics,
  kld,
  meanDefined,
  mse,
  nss,
  resizeBilinear,
  sim,
} from './saliency';

function lcg(seed: number): () => number {
  let s = seed >>> 0;
  return () => {
    s = (Math.imul(s, 1664525) + 1013904223) >>> 0;
    return s / 4294967296;
  };
}

/** A smooth random map: a few Gaussian blobs on a w×h grid, plus optional noise. */
function blobs(rnd: () => number, w: number, h: number, k: number, noise = 0): Float64Array {
  const out = new Float64Array(w * h);
  for (let b = 0; b < k; b++) {
    const cx = rnd() * w;
    const cy = rnd() * h;
    const s = 1 + rnd() * (w / 4);
    for (let y = 0; y < h; y++) for (let x = 0; x < w; x++) out[y * w + x] += Math.exp(-((x - cx) ** 2 + (y - cy) ** 2) / (2 * s * s));
  }
  for (let i = 0; i < out.length; i++) out[i] += noise * rnd();
  return out;
}

/** AUC_Judd.m's loop, literally: O(N·F), TP rate i/F at the i-th largest fixated value. */
function naiveJuddMatlab(S: ArrayLike<number>, F: ArrayLike<number>): number {
  const th: number[] = [];
  for (let i = 0; i < S.length; i++) if (F[i]) th.push(S[i]);
  th.sort((a, b) => b - a);
  const nf = th.length;
  const tp = [0];
  const fp = [0];
  for (let i = 0; i < nf; i++) {
    let above = 0;
    for (let j = 0; j < S.length; j++) if (S[j] >= th[i]) above++;
    tp.push((i + 1) / nf);
    fp.push((above - (i + 1)) / (S.length - nf));
  }
  tp.push(1);
  fp.push(1);
  let area = 0;
  for (let i = 1; i < tp.length; i++) area += ((fp[i] - fp[i - 1]) * (tp[i] + tp[i - 1])) / 2;
  return area;
}

/** Tie-aware reference, O(N·F): TP counts every fixation ≥ the threshold. */
function naiveJuddTies(S: ArrayLike<number>, F: ArrayLike<number>): number {
  const th: number[] = [];
  for (let i = 0; i < S.length; i++) if (F[i]) th.push(S[i]);
  th.sort((a, b) => b - a);
  const nf = th.length;
  const pts: [number, number][] = [[0, 0]];
  for (const t of th) {
    let fixAbove = 0;
    let negAbove = 0;
    for (let j = 0; j < S.length; j++) if (S[j] >= t) (F[j] ? fixAbove++ : negAbove++);
    pts.push([negAbove / (S.length - nf), fixAbove / nf]);
  }
  pts.push([1, 1]);
  let area = 0;
  for (let i = 1; i < pts.length; i++) area += ((pts[i][0] - pts[i - 1][0]) * (pts[i][1] + pts[i - 1][1])) / 2;
  return area;
}

describe('hand-computed values', () => {
  test('cc: P=[1,2,3,4], G=[0,0,1,1] → 2/√5', () => {
    expect(cc([1, 2, 3, 4], [0, 0, 1, 1])).toBeCloseTo(2 / Math.sqrt(5), 14);
    expect(cc([1, 2, 3, 4], [1, 0, 0, 1])).toBeCloseTo(0, 14);
  });

  test('kld: P=[1,1,2,0]/4, G=[0,1,1,0]/2 → ½ln2; a miss costs ln(1/eps)', () => {
    expect(kld([1, 1, 2, 0], [0, 1, 1, 0])).toBeCloseTo(0.5 * Math.log(2), 14);
    // G mass where P is 0: 1·log(eps + 1/eps) = 52·ln2 — MATLAB eps bounds the penalty.
    expect(kld([1, 0], [0, 1])).toBeCloseTo(52 * Math.LN2, 12);
    expect(MATLAB_EPS).toBe(2 ** -52);
  });

  test('sim: P=[0,1,2,3] → [0,1,2,3]/6 (after min-max), G=[1,1,0,0] → [.5,.5,0,0]: 1/6', () => {
    expect(sim([0, 1, 2, 3], [1, 1, 0, 0])).toBeCloseTo(1 / 6, 14);
    expect(sim([10, 11, 12, 13], [1, 1, 0, 0])).toBeCloseTo(1 / 6, 14); // min-max removes the offset
    expect(sim([1, 0], [0, 1])).toBe(0);
  });

  test('nss: P=[1,2,3,4], fixation at 4 → 1.5/√(5/3) (sample std, as MATLAB)', () => {
    expect(nss([1, 2, 3, 4], [0, 0, 0, 1])).toBeCloseTo(1.5 / Math.sqrt(5 / 3), 14);
    expect(nss([1, 2, 3, 4], [true, false, false, true])).toBeCloseTo(0, 14);
  });

  test('aucJudd: P=[.9,.8,.7,.6,.5], fixations at .9 and .7 → 11/12', () => {
    // points (0,0) (0,.5) (1/3,1) (1,1): area 0 + 1/3·¾ + 2/3·1.
    const P = [0.9, 0.8, 0.7, 0.6, 0.5];
    const F = [1, 0, 1, 0, 0];
    expect(aucJudd(P, F)).toBeCloseTo(11 / 12, 14);
    expect(naiveJuddMatlab(P, F)).toBeCloseTo(11 / 12, 14);
    expect(aucJudd([0.1, 0.2, 0.3, 0.4], [1, 1, 0, 0])).toBeCloseTo(0.25, 14); // points (0,0) (1,.5) (1,1): area ½·½ = ¼
  });

  test('mse', () => {
    expect(mse([0, 0.5, 1], [0, 1, 0])).toBeCloseTo((0.25 + 1) / 3, 15);
    expect(mse(new Float32Array([0.5, 0.5]), [0.5, 0.5])).toBe(0);
  });
});

describe('identical maps', () => {
  test('CC 1, KLD 0, SIM 1, MSE 0 on smooth and on sparse maps', () => {
    const rnd = lcg(3);
    const smooth = blobs(rnd, 24, 16, 3);
    const sparse = new Float64Array(64);
    sparse[5] = 1;
    sparse[40] = 0.25;
    for (const m of [smooth, sparse, Float32Array.from(smooth)]) {
      expect(cc(m, m)).toBeCloseTo(1, 14);
      expect(Math.abs(kld(m, m))).toBeLessThan(1e-12);
      expect(sim(m, m)).toBeCloseTo(1, 14);
      expect(mse(m, m)).toBe(0);
    }
  });

  test('scale invariance of CC, KLD, SIM, NSS, AUC-Judd', () => {
    const rnd = lcg(4);
    const P = blobs(rnd, 16, 16, 2, 0.05);
    const G = blobs(rnd, 16, 16, 2);
    const F = fixationsFromHeatmap(G, 0.5);
    const P2 = P.map((v) => 255 * v);
    expect(cc(P2, G)).toBeCloseTo(cc(P, G), 12);
    expect(kld(P2, G)).toBeCloseTo(kld(P, G), 10);
    expect(sim(P2, G)).toBeCloseTo(sim(P, G), 12);
    expect(nss(P2, F)).toBeCloseTo(nss(P, F), 12);
    expect(aucJudd(P2, F)).toBeCloseTo(aucJudd(P, F), 14);
  });
});

describe('aucJudd', () => {
  test('equals AUC_Judd.m’s O(N·F) loop on random continuous maps', () => {
    const rnd = lcg(11);
    for (let t = 0; t < 6; t++) {
      const w = 20 + t * 3;
      const h = 17;
      const P = blobs(rnd, w, h, 2, 0.1);
      const G = blobs(rnd, w, h, 2);
      const F = fixationsFromHeatmap(G, 0.3 + 0.1 * t);
      expect(aucJudd(P, F)).toBeCloseTo(naiveJuddMatlab(P, F), 13);
    }
  });

  test('with tied values equals the tie-aware O(N·F) reference; constant map → 0.5', () => {
    const rnd = lcg(12);
    for (let t = 0; t < 4; t++) {
      const P = Array.from({ length: 300 }, () => Math.floor(rnd() * 6) / 5); // 6 levels → heavy ties
      const F = P.map((v) => (rnd() < 0.1 + 0.5 * v ? 1 : 0));
      expect(aucJudd(P, F)).toBeCloseTo(naiveJuddTies(P, F), 13);
    }
    expect(aucJudd(new Float32Array(50).fill(0.2), Array.from({ length: 50 }, (_, i) => (i % 7 === 0 ? 1 : 0)))).toBe(0.5);
  });

  test('jitter is seeded and only breaks ties', () => {
    const rnd = lcg(13);
    const P = blobs(rnd, 32, 32, 3, 0.05);
    const F = fixationsFromHeatmap(blobs(rnd, 32, 32, 2), 0.4);
    const a = aucJudd(P, F, { jitter: true, seed: 5 });
    expect(aucJudd(P, F, { jitter: true, seed: 5 })).toBe(a);
    expect(Math.abs(a - aucJudd(P, F))).toBeLessThan(1e-3);
    // On a map with a large tied region (zeros), the jittered value is one random tie-break of it.
    const Z = new Float64Array(400);
    const FZ = new Uint8Array(400);
    for (let i = 0; i < 400; i++) {
      if (i % 3 === 0) Z[i] = rnd();
      if (i % 5 === 0) FZ[i] = 1;
    }
    const j = [1, 2, 3].map((seed) => aucJudd(Z, FZ, { jitter: true, seed }));
    // Different seeds break the ties differently; each lands near the deterministic tie-aware value.
    expect(new Set(j).size).toBeGreaterThan(1);
    const exact = aucJudd(Z, FZ);
    expect(exact).toBeCloseTo(naiveJuddTies(Z, FZ), 14);
    for (const v of j) expect(Math.abs(v - exact)).toBeLessThan(0.1);
  });

  test('O(N log N): a 512×512 map takes well under two seconds', () => {
    const rnd = lcg(14);
    const n = 512 * 512;
    const P = new Float32Array(n);
    const F = new Uint8Array(n);
    for (let i = 0; i < n; i++) {
      P[i] = rnd();
      F[i] = rnd() < 0.05 ? 1 : 0;
    }
    const t0 = Date.now();
    const a = aucJudd(P, F);
    expect(Date.now() - t0).toBeLessThan(2000);
    expect(a).toBeGreaterThan(0.45);
    expect(a).toBeLessThan(0.55);
  });

  test('non-finite prediction throws', () => {
    expect(() => aucJudd([0, NaN], [1, 0])).toThrow(/metrics\/saliency: aucJudd: non-finite prediction NaN at pixel 1/);
  });
});

describe('empty ground truth and constant predictions', () => {
  const P = [0.1, 0.7, 0.3, 0.9];
  const empty = [0, 0, 0, 0];

  test('empty GT: CC, KLD, SIM, NSS, AUC-Judd are NaN; MSE is defined', () => {
    expect(cc(P, empty)).toBeNaN();
    expect(kld(P, empty)).toBeNaN();
    expect(sim(P, empty)).toBeNaN();
    expect(nss(P, fixationsFromHeatmap(empty))).toBeNaN();
    expect(aucJudd(P, fixationsFromHeatmap(empty))).toBeNaN();
    expect(mse(P, empty)).toBeCloseTo((0.01 + 0.49 + 0.09 + 0.81) / 4, 15);
  });

  test('constant prediction against a real GT: CC 0, NSS 0, SIM 0, AUC 0.5, KLD finite', () => {
    const G = [0, 1, 0.5, 0];
    const F = fixationsFromHeatmap(G);
    for (const c of [[0, 0, 0, 0], [0.3, 0.3, 0.3, 0.3]]) {
      expect(cc(c, G)).toBe(0);
      expect(nss(c, F)).toBe(0);
      expect(sim(c, G)).toBe(0);
      expect(aucJudd(c, F)).toBe(0.5);
      expect(Number.isFinite(kld(c, G))).toBe(true);
    }
    // The zero prediction pays MATLAB's bounded miss penalty: Σ G·log(eps + G/eps).
    expect(kld([0, 0, 0, 0], G)).toBeCloseTo((2 / 3) * Math.log(MATLAB_EPS + 2 / 3 / MATLAB_EPS) + (1 / 3) * Math.log(MATLAB_EPS + 1 / 3 / MATLAB_EPS), 10);
  });

  test('GT covering every pixel: AUC-Judd has no negatives → NaN; constant GT → CC/SIM NaN', () => {
    expect(aucJudd(P, [1, 1, 1, 1])).toBeNaN();
    expect(cc(P, [0.5, 0.5, 0.5, 0.5])).toBeNaN();
    expect(sim(P, [0.5, 0.5, 0.5, 0.5])).toBeNaN();
    expect(nss(P, [1, 1, 1, 1])).toBeCloseTo(0, 14);
  });

  test('meanDefined skips the NaNs of empty maps and counts what it averaged; constant maps stay in', () => {
    const rnd = lcg(21);
    const region = () => blobs(rnd, 8, 8, 1).map((v) => (v > 0.2 ? v : 0)); // marked region, zeros elsewhere
    const samples = [
      { p: blobs(rnd, 8, 8, 1), g: region() },
      { p: blobs(rnd, 8, 8, 1), g: new Float64Array(64) }, // artifact-free image
      { p: new Float64Array(64), g: region() }, // collapsed prediction
      { p: new Float64Array(64).fill(0.4), g: new Float64Array(64) },
    ];
    const rows = samples.map(({ p, g }) => heatmapMetrics({ data: p, width: 8, height: 8 }, { data: g, width: 8, height: 8 }));
    for (const key of ['cc', 'kld', 'sim', 'nss', 'aucJudd'] as const) {
      const m = meanDefined(rows.map((r) => r[key]));
      expect(m).toMatchObject({ count: 2, total: 4 });
      expect(Number.isFinite(m.mean)).toBe(true);
    }
    const m = meanDefined(rows.map((r) => r.mse));
    expect(m).toMatchObject({ count: 4, total: 4 });
    expect(meanDefined([NaN, 2, Infinity, 4])).toEqual({ mean: 3, count: 2, total: 4 });
    expect(meanDefined([])).toEqual({ mean: NaN, count: 0, total: 0 });
  });
});

describe('resizeBilinear', () => {
  test('upsampling uses pixel centres with clamped edges: [0,1] → [0,.25,.75,1]', () => {
    expect(Array.from(resizeBilinear([0, 1], 2, 1, 4, 1))).toEqual([0, 0.25, 0.75, 1]);
    expect(Array.from(resizeBilinear([0, 1], 1, 2, 1, 4))).toEqual([0, 0.25, 0.75, 1]);
  });

  test('2×2 → 4×4 is separable bilinear', () => {
    const out = resizeBilinear([0, 1, 2, 3], 2, 2, 4, 4);
    const t = [[1, 0], [0.75, 0.25], [0.25, 0.75], [0, 1]]; // weights of input 0 and 1 per output index
    const want: number[] = [];
    for (const [a, b] of t) for (const [c, d] of t) want.push(a * (c * 0 + d * 1) + b * (c * 2 + d * 3));
    out.forEach((v, i) => expect(v).toBeCloseTo(want[i], 15));
  });

  test('downsampling averages with a widened triangle (antialiased), like PIL', () => {
    // Output 0 of 4→2: centre 1.0, support 2: taps 0,1,2 with weights .75,.75,.25 (normalised).
    const out = resizeBilinear([0, 0.25, 0.75, 1], 4, 1, 2, 1);
    expect(out[0]).toBeCloseTo((0.25 * 0.75 + 0.75 * 0.25) / 1.75, 15);
    expect(out[1]).toBeCloseTo(1 - out[0], 15);
  });

  test('keeps constants and non-negativity; same size is a copy; bad sizes throw', () => {
    resizeBilinear(new Float32Array(12).fill(0.3), 4, 3, 7, 5).forEach((v) => expect(v).toBeCloseTo(Math.fround(0.3), 15));
    const rnd = lcg(31);
    const m = Array.from({ length: 30 }, rnd);
    expect(Math.min(...resizeBilinear(m, 6, 5, 17, 13))).toBeGreaterThanOrEqual(0);
    expect(Array.from(resizeBilinear(m, 6, 5, 6, 5))).toEqual(m);
    expect(() => resizeBilinear(m, 5, 5, 10, 10)).toThrow(/metrics\/saliency: resizeBilinear: map has 30 values, expected 5x5 = 25/);
  });
});

describe('heatmapMetrics', () => {
  test('upsamples the prediction to the GT size and matches the single metrics', () => {
    const rnd = lcg(41);
    const pred = { data: blobs(rnd, 8, 8, 2), width: 8, height: 8 };
    const gtData = blobs(rnd, 32, 32, 2).map((v) => (v > 0.5 ? v : 0));
    const gt = { data: gtData, width: 32, height: 32 };
    const r = heatmapMetrics(pred, gt);
    const up = resizeBilinear(pred.data, 8, 8, 32, 32);
    const F = fixationsFromHeatmap(gtData);
    expect(r).toEqual({ mse: mse(up, gtData), cc: cc(up, gtData), kld: kld(up, gtData), sim: sim(up, gtData), nss: nss(up, F), aucJudd: aucJudd(up, F) });
    expect(r.cc).toBeGreaterThan(-1);
  });

  test('size mismatch without resizing throws one clear line', () => {
    expect(() => cc([1, 2, 3], [1, 2])).toThrow(/metrics\/saliency: cc: prediction has 3 pixels but ground truth has 2 \(resize/);
    expect(() => kld([-1, 1], [0, 1])).toThrow(/kld: maps must be non-negative/);
  });
});
