import sharp from 'sharp';
import { boxesMask, dilate, heatmapMask, maskArea, maskPng, meetsBox, snapToGrid, type Mask } from './mask';

const point = (W: number, H: number, x: number, y: number): Mask => {
  const data = new Uint8Array(W * H);
  data[y * W + x] = 1;
  return { width: W, height: H, data };
};

describe('inpainting masks', () => {
  test('heatmap → mask: resampled to the image, thresholded, dilated', () => {
    // A 4×4 map with one hot cell (row 1, column 2) over a 32×32 image: its 8×8 block, blurred by bilinear resampling.
    const map = { width: 4, height: 4, data: new Float32Array(16) };
    map.data[1 * 4 + 2] = 1;
    const m = heatmapMask(map, 32, 32, { threshold: 0.5, dilate: 0 });
    expect(m.data[12 * 32 + 20]).toBe(1);
    expect(m.data[2 * 32 + 2]).toBe(0);
    expect(maskArea(m)).toBeGreaterThan(20);
    expect(maskArea(m)).toBeLessThan(100);
    const grown = heatmapMask(map, 32, 32, { threshold: 0.5, dilate: 3 });
    expect(maskArea(grown)).toBeGreaterThan(maskArea(m));
    for (let i = 0; i < m.data.length; i++) if (m.data[i]) expect(grown.data[i]).toBe(1);
    expect(maskArea(heatmapMask(map, 32, 32, { threshold: 1.01 }))).toBe(0);
  });

  test('dilation is a disc of the given radius', () => {
    const d = dilate(point(21, 21, 10, 10), 3);
    expect(maskArea(d)).toBe(29); // lattice points with x² + y² ≤ 9
    expect(d.data[10 * 21 + 13]).toBe(1);
    expect(d.data[13 * 21 + 13]).toBe(0);
  });

  test('snapping to the 16-px token grid fills every cell the mask touches, and only those', () => {
    const s = snapToGrid(point(64, 48, 17, 40));
    expect(maskArea(s)).toBe(16 * 16);
    expect(meetsBox(s, [16, 32, 32, 48])).toBe(true);
    expect(meetsBox(s, [0, 0, 16, 32])).toBe(false);
    const edge = snapToGrid(point(40, 40, 39, 39));
    expect(maskArea(edge)).toBe(8 * 8); // the last, partial cell
  });

  test("the mask PNG follows AUTOMATIC1111's convention: white repaints, black keeps", async () => {
    const m = boxesMask([[2, 3, 6, 5]], 8, 8);
    const { data, info } = await sharp(Buffer.from(await maskPng(m))).raw().toBuffer({ resolveWithObject: true });
    expect([info.width, info.height]).toEqual([8, 8]);
    expect(data[4 * 8 * info.channels + 3 * info.channels]).toBe(255);
    expect(data[0]).toBe(0);
    expect(maskArea(m)).toBe(8);
  });
});
