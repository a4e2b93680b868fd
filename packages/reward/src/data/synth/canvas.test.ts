import { Canvas, fillPrim } from './canvas';

function coverage(cv: Canvas): number {
  let s = 0;
  for (let p = 0; p < cv.width * cv.height; p++) s += cv.data[p * 3];
  return s;
}

describe('rasterizer', () => {
  test('an anti-aliased circle covers ≈ πr² pixels', () => {
    const cv = new Canvas(64, 64);
    fillPrim(cv, { t: 'circle', c: [32, 30], r: 10 }, [1, 1, 1]);
    expect(Math.abs(coverage(cv) - Math.PI * 100)).toBeLessThan(3);
    expect(cv.data[(30 * 64 + 32) * 3]).toBe(1);
    expect(cv.data[(30 * 64 + 45) * 3]).toBe(0);
  });

  test('triangle, box and segment areas', () => {
    const tri = new Canvas(64, 64);
    fillPrim(tri, { t: 'tri', p: [[10, 10], [50, 10], [10, 50]] }, [1, 1, 1]);
    expect(Math.abs(coverage(tri) - 800)).toBeLessThan(4);
    const box = new Canvas(64, 64);
    fillPrim(box, { t: 'box', a: [10, 12], b: [30, 22] }, [1, 1, 1]);
    expect(Math.abs(coverage(box) - 200)).toBeLessThan(1e-3);
    const seg = new Canvas(64, 64);
    fillPrim(seg, { t: 'seg', a: [10, 32], b: [50, 32], w: 4 }, [1, 1, 1]);
    expect(Math.abs(coverage(seg) - (160 + Math.PI * 4))).toBeLessThan(3);
  });

  test('alpha blends toward the paint colour', () => {
    const cv = new Canvas(8, 8);
    fillPrim(cv, { t: 'box', a: [0, 0], b: [8, 8] }, [1, 0.5, 0], 0.5);
    expect(Array.from(cv.data.slice(0, 3))).toEqual([0.5, 0.25, 0]);
  });

  test('toBytes rounds and clamps', () => {
    const cv = new Canvas(2, 1);
    cv.data.set([0, 0.5, 1, -0.2, 1.3, 0.002]);
    expect(Array.from(cv.toBytes())).toEqual([0, 128, 255, 0, 255, 1]);
  });
});
