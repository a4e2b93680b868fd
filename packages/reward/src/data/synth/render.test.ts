import { Canvas } from './canvas';
import { applyGrade } from './render';

describe('global grade', () => {
  test('the neutral grade is the identity; saturation 0 is grey', () => {
    const cv = new Canvas(1, 1);
    cv.data.set([0.8, 0.2, 0.1]);
    applyGrade(cv, { saturation: 1, exposure: 0, contrast: 1 });
    expect(Array.from(cv.data).map((v) => +v.toFixed(6))).toEqual([0.8, 0.2, 0.1]);
    applyGrade(cv, { saturation: 0, exposure: 0, contrast: 1 });
    expect(cv.data[0]).toBeCloseTo(cv.data[2], 6);
  });
});

