import type { Heatmap, RgbImage, Scorer } from '@richhf/reward';

/**
 * A Scorer for inpainting tests: plausibility is the image's mean red channel (tests decide which
 * re-generation wins by its pixels) and the implausibility heatmap is the map the test sets, whatever the image.
 */
export class MapScorer implements Scorer {
  readonly engine = 'ort' as const;
  readonly config = {} as Scorer['config'];
  constructor(public map: Heatmap) {}
  async score(images: RgbImage[] | Float32Array, _prompts: string[], opts: { heatmaps?: boolean } = {}) {
    if (!Array.isArray(images)) throw new Error('MapScorer takes decoded images');
    return images.map((img) => {
      let r = 0;
      for (let p = 0; p < img.data.length; p += 3) r += img.data[p];
      const red = r / (img.data.length / 3);
      return {
        scores: { plausibility: red, alignment: 0, aesthetics: 0, overall: red },
        ...(opts.heatmaps ? { heatmaps: { implausibility: this.map, misalignment: { ...this.map, data: new Float32Array(this.map.data.length) } } } : {}),
      };
    });
  }
  async dispose() {}
}

/** A width×height map, 1 inside box [x0, y0, x1, y1) and 0 elsewhere. */
export function boxMap(width: number, height: number, box: [number, number, number, number]): Heatmap {
  const data = new Float32Array(width * height);
  for (let y = box[1]; y < box[3]; y++) for (let x = box[0]; x < box[2]; x++) data[y * width + x] = 1;
  return { width, height, data };
}
