import { interpUnitGrid, npLinspace, roundHalfEven, spacedTimesteps } from './spacing';

// Expected lists printed by numpy 2.4 with the expressions diffusers uses (see spacing.ts).

test('roundHalfEven rounds halves to the even neighbour like numpy.round', () => {
  expect([0.5, 1.5, 2.5, -0.5, -1.5, 812.5, 937.5, 2.4, 2.6].map(roundHalfEven)).toEqual([0, 2, 2, -0, -2, 812, 938, 2, 3]);
});

test('leading spacing: arange(n)·(N // n) reversed, plus steps_offset', () => {
  expect(spacedTimesteps('leading', 10, 1000, 1, true)).toEqual([901, 801, 701, 601, 501, 401, 301, 201, 101, 1]);
  expect(spacedTimesteps('leading', 3, 1000, 0, true)).toEqual([666, 333, 0]);
});

test('trailing spacing: round(arange(N, 0, −N/n)) − 1, halves to even', () => {
  expect(spacedTimesteps('trailing', 10, 1000, 0, true)).toEqual([999, 899, 799, 699, 599, 499, 399, 299, 199, 99]);
  expect(spacedTimesteps('trailing', 16, 1000, 0, true)).toEqual([999, 937, 874, 811, 749, 687, 624, 561, 499, 437, 374, 311, 249, 187, 124, 61]);
  expect(spacedTimesteps('trailing', 1, 1000, 0, false)).toEqual([999]);
});

test('linspace spacing: integers for DDIM/DDPM, float32 values for Euler', () => {
  expect(spacedTimesteps('linspace', 5, 1000, 0, true)).toEqual([999, 749, 500, 250, 0]);
  expect(spacedTimesteps('linspace', 5, 1000, 0, false)).toEqual([999, 749.25, 499.5, 249.75, 0]);
  const ts = spacedTimesteps('linspace', 30, 1000, 0, false);
  expect(ts[1]).toBe(Math.fround(999 - 999 / 29));
});

test('npLinspace pins the end point; interpUnitGrid interpolates like numpy.interp and clamps outside', () => {
  const l = npLinspace(0, 1, 7);
  expect(l[0]).toBe(0);
  expect(l[6]).toBe(1);
  expect(l[3]).toBe(3 * (1 / 6));
  const fp = [10, 20, 40];
  expect([-1, 0, 0.25, 1, 1.5, 2, 5].map((x) => interpUnitGrid(x, fp))).toEqual([10, 10, 12.5, 20, 30, 40, 40]);
});
