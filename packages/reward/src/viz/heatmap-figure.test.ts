import sharp from 'sharp';
import { overlayPng } from '../heatmap-image';
import { displayFactor, heatmapFigurePng } from './heatmap-figure';

// A flat grey that 8 bits hold exactly, so the enlarged image equals the original pixel for pixel.
const GREY = 128 / 255;
const image = { data: new Float32Array(96 * 64 * 3).fill(GREY), width: 96, height: 64 };
const map = { data: new Float32Array(16 * 16).map((_, i) => (i === 5 * 16 + 3 ? 0.4 : 0.01)), width: 16, height: 16 };
const HIGHLIGHT = [0xff, 0xb3, 0xa7]; // the flagged-word background

async function pixels(png: Buffer): Promise<{ data: Buffer; width: number; height: number }> {
  const { data, info } = await sharp(png).removeAlpha().raw().toBuffer({ resolveWithObject: true });
  return { data, width: info.width, height: info.height };
}

function countColour(p: { data: Buffer; width: number }, x0: number, rgb: number[]): number {
  let n = 0;
  for (let i = 0; i < p.data.length; i += 3) {
    const x = (i / 3) % p.width;
    if (x >= x0 && p.data[i] === rgb[0] && p.data[i + 1] === rgb[1] && p.data[i + 2] === rgb[2]) n++;
  }
  return n;
}

describe('heatmapFigurePng', () => {
  it('is the enlarged overlay on the left and a strip with the legend and the marked prompt on the right', async () => {
    const k = displayFactor(96, 64); // 64 → at least 384: × 6
    expect(k).toBe(6);
    const fig = await pixels(await heatmapFigurePng({ image, map, title: 'implausibility', prompt: 'a red cat', flagged: ['red'], scores: { overall: 0.5 } }));
    expect(fig.width).toBe(96 * k + 280);
    expect(fig.height).toBeGreaterThanOrEqual(64 * k);
    // The left part is exactly the overlay at display size.
    const over = await pixels(await overlayPng(new Float32Array(96 * k * 64 * k * 3).fill(GREY), 96 * k, 64 * k, map));
    let same = true;
    for (let y = 0; y < 64 * k && same; y++) {
      for (let x = 0; x < 96 * k; x++) {
        const a = (y * fig.width + x) * 3;
        const b = (y * over.width + x) * 3;
        if (fig.data[a] !== over.data[b] || fig.data[a + 1] !== over.data[b + 1] || fig.data[a + 2] !== over.data[b + 2]) {
          same = false;
          break;
        }
      }
    }
    expect(same).toBe(true);
    // The flagged word is drawn on its highlight; without flags there is none.
    expect(countColour(fig, 96 * k, HIGHLIGHT)).toBeGreaterThan(50);
    const plain = await pixels(await heatmapFigurePng({ image, map, title: 'implausibility', prompt: 'a red cat', flagged: [] }));
    expect(countColour(plain, 96 * k, HIGHLIGHT)).toBe(0);
  });
});
