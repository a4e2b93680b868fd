import { GaussianGenerator, philox4x32 } from './random';

const hex = (w: Uint32Array) => [...w].map((x) => x.toString(16).padStart(8, '0'));

test('Philox4x32-10 reproduces the Random123 known-answer vectors', () => {
  // Random123 kat_vectors: counter[4] key[2] → output[4].
  expect(hex(philox4x32([0, 0, 0, 0], [0, 0]))).toEqual(['6627e8d5', 'e169c58d', 'bc57ac4c', '9b00dbd8']);
  const ones = 0xffffffff;
  expect(hex(philox4x32([ones, ones, ones, ones], [ones, ones]))).toEqual(['408f276d', '41c83b0e', 'a20bc7c6', '6d5451fd']);
  expect(hex(philox4x32([0x243f6a88, 0x85a308d3, 0x13198a2e, 0x03707344], [0xa4093822, 0x299f31d0]))).toEqual([
    'd16cfe09', '94fdcceb', '5001e420', '24126ea1',
  ]);
});

test('streams match an independent implementation of the documented algorithm', () => {
  // Expected numbers from a separate Python implementation of the algorithm in random.ts (Python ints for
  // Philox, math.log/cos/sin for Box–Muller, numpy float32 rounding): pins the stream across releases.
  const golden: Array<[number | bigint, number[]]> = [
    [0, [-0.12151796370744705, -1.3500326871871948, -0.08187421411275864, -0.2227090448141098, 1.7764242887496948, 2.173520803451538]],
    [42, [0.8864974975585938, 0.4393560588359833, -0.15660962462425232, -0.013718678615987301, -0.49410051107406616, -0.37216684222221375]],
    [2 ** 40 + 7, [1.715322494506836, 0.4967471659183502, 0.091273732483387, 1.4125288724899292, -1.5211025476455688, -0.3393740653991699]],
  ];
  for (const [seed, want] of golden) expect([...new GaussianGenerator(seed).normal(6)]).toEqual(want);
  expect([...new GaussianGenerator(BigInt(2 ** 40 + 7)).normal(6)]).toEqual(golden[2][1]);
});

test('a stream does not depend on how it is drawn, and `at` reads any stretch of it', () => {
  const whole = new GaussianGenerator(7).normal(11);
  const g = new GaussianGenerator(7);
  const parts = [...g.normal(3), ...g.normal(5), ...g.fill(new Float32Array(3))];
  expect(parts).toEqual([...whole]);
  expect(g.position).toBe(11);
  expect([...g.at(3, 6)]).toEqual([...whole.slice(3, 9)]);
  expect(g.position).toBe(11);
  expect([...new GaussianGenerator(8).normal(4)]).not.toEqual([...whole.slice(0, 4)]);
});

test('the numbers are standard normal (moments and tail share of 200k draws)', () => {
  const n = 200_000;
  const x = new GaussianGenerator(123).normal(n);
  let s = 0;
  let s2 = 0;
  let s4 = 0;
  let tail = 0;
  for (const v of x) {
    s += v;
    s2 += v * v;
    s4 += v ** 4;
    if (Math.abs(v) > 1.959964) tail++;
  }
  const mean = s / n;
  const variance = s2 / n - mean * mean;
  // Standard errors: mean 1/√n ≈ 0.0022, variance √(2/n) ≈ 0.0032, kurtosis ≈ √(96/n) ≈ 0.022, tail ≈ 0.0005.
  expect(Math.abs(mean)).toBeLessThan(0.01);
  expect(Math.abs(variance - 1)).toBeLessThan(0.015);
  expect(Math.abs(s4 / n - 3)).toBeLessThan(0.1);
  expect(Math.abs(tail / n - 0.05)).toBeLessThan(0.003);
  // Neighbours (the cos/sin pair of one block, and across blocks) are uncorrelated.
  let c = 0;
  for (let i = 0; i + 1 < n; i++) c += x[i] * x[i + 1];
  expect(Math.abs(c / (n - 1))).toBeLessThan(0.01);
});

test('bad seeds are refused', () => {
  expect(() => new GaussianGenerator(-1)).toThrow(/seed -1/);
  expect(() => new GaussianGenerator(1.5)).toThrow(/seed 1.5/);
  expect(() => new GaussianGenerator(1n << 64n)).toThrow(/seed/);
});
