import type { RgbImage, Scorer } from '@richhf/reward';

/**
 * A Scorer whose plausibility is the image's mean red channel, alignment its mean green, aesthetics its
 * mean blue and overall their mean: tests choose winners by painting candidates. It also reports misaligned
 * words (the prompt's first word) when asked, and counts calls.
 */
export class ColourScorer implements Scorer {
  readonly engine = 'ort' as const;
  readonly config = {} as Scorer['config'];
  calls = 0;
  images = 0;
  async score(images: RgbImage[] | Float32Array, prompts: string[], opts: { keywords?: boolean } = {}) {
    if (!Array.isArray(images)) throw new Error('ColourScorer takes decoded images');
    this.calls++;
    this.images += images.length;
    return images.map((img, i) => {
      const m = [0, 0, 0];
      for (let p = 0; p < img.data.length; p += 3) for (let c = 0; c < 3; c++) m[c] += img.data[p + c];
      const [r, g, b] = m.map((v) => v / (img.data.length / 3));
      return {
        scores: { plausibility: r, alignment: g, aesthetics: b, overall: (r + g + b) / 3 },
        ...(opts.keywords ? { misaligned: [prompts[i].split(' ')[0]] } : {}),
      };
    });
  }
  async dispose() {}
}
