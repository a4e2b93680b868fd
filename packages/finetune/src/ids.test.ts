import * as path from 'path';
import { candidateSeeds, safeKey, sampleKey } from './ids';

test('plain ids are their own key; anything else becomes a slug plus a hash that stays inside a folder', () => {
  expect(safeKey('42')).toBe('42');
  expect(safeKey('cat-on_sofa')).toBe('cat-on_sofa');
  const evil = ['../../x', '/etc/passwd', 'a/b', 'a.b', '.hidden', '..', '', 'x\u0000y', 'C:\\win', 'ça va?', 'a'.repeat(200)];
  const keys = evil.map(safeKey);
  for (const k of keys) {
    expect(k).toMatch(/^[A-Za-z0-9][A-Za-z0-9_-]*$/);
    expect(k.length).toBeLessThanOrEqual(80);
    expect(path.resolve('/out', k).startsWith('/out/')).toBe(true);
  }
  expect(safeKey('../../x')).toMatch(/^x-[0-9a-f]{12}$/);
  expect(new Set(keys).size).toBe(keys.length);
  // Ids that differ only in the characters the slug drops still get different keys.
  expect(safeKey('a b')).not.toBe(safeKey('a/b'));
});

test('sample keys and seeds', () => {
  expect(sampleKey('p1', 3)).toBe('p1_3');
  const s = candidateSeeds(0, 'p1', 8);
  expect(s).toHaveLength(8);
  expect(s.every((v, k) => v === s[0] + k && Number.isInteger(v) && v >= 0 && v < 2 ** 31)).toBe(true);
  expect(candidateSeeds(0, 'p1', 8)).toEqual(s);
  expect(candidateSeeds(1, 'p1', 8)[0]).not.toBe(s[0]);
  expect(candidateSeeds(0, 'p2', 8)[0]).not.toBe(s[0]);
});
