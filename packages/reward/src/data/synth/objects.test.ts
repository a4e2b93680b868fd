import { Canvas, fillPrim, primBounds } from './canvas';
import { KINDS } from './grammar';
import { CATALOGUE, objectBox, objectParts, type PlacedObject } from './objects';

describe('object catalogue', () => {
  test.each([...KINDS])('%s draws only inside its box, and fills part of it', (kind) => {
    const o: PlacedObject = { group: 0, kind, colour: 'red', rgb: [1, 1, 1], cx: 40, cy: 36, s: 16, flip: true, box: [0, 0, 0, 0] };
    o.box = objectBox(o, 80, 80);
    const cv = new Canvas(80, 80);
    for (const p of objectParts(o)) fillPrim(cv, p.prim, [1, 1, 1]);
    let inside = 0;
    let outside = 0;
    for (let y = 0; y < 80; y++) {
      for (let x = 0; x < 80; x++) {
        const v = cv.data[(y * 80 + x) * 3];
        const inBox = x >= o.box[0] && x < o.box[2] && y >= o.box[1] && y < o.box[3];
        if (inBox) inside += v;
        else outside += v;
      }
    }
    expect(outside).toBe(0);
    expect(inside).toBeGreaterThan(0.15 * (o.box[2] - o.box[0]) * (o.box[3] - o.box[1]));
    expect(CATALOGUE[kind].parts.some((p) => p.dup)).toBe(true);
    for (const p of objectParts(o)) expect(primBounds(p.prim).every(Number.isFinite)).toBe(true);
  });
});
