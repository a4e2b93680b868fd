import { createHash } from 'crypto';
import type { RgbImage, Scorer } from '@richhf/reward';
import type { RichFeedback, ScoreOptions } from '@richhf/reward';

/**
 * A Scorer that remembers scores by image content and prompt, so the proof's second best-of-N build
 * (selection by overall, over the very candidates the first one scored) costs generation only. Heatmap
 * and keyword requests pass through uncached.
 */
export class CachingScorer implements Scorer {
  private readonly cache = new Map<string, RichFeedback['scores']>();
  hits = 0;
  constructor(readonly inner: Scorer) {}
  get engine() {
    return this.inner.engine;
  }
  get config() {
    return this.inner.config;
  }

  async score(images: RgbImage[] | Float32Array, prompts: string[], opts: ScoreOptions = {}): Promise<RichFeedback[]> {
    if (!Array.isArray(images) || opts.heatmaps || opts.keywords) return this.inner.score(images, prompts, opts);
    const keys = images.map((im, i) => createHash('sha1').update(new Uint8Array(im.data.buffer, im.data.byteOffset, im.data.byteLength)).update(`\u0000${im.width}x${im.height}\u0000${prompts[i]}`).digest('base64'));
    const miss = keys.map((k, i) => (this.cache.has(k) ? -1 : i)).filter((i) => i >= 0);
    if (miss.length > 0) {
      const fb = await this.inner.score(miss.map((i) => images[i]), miss.map((i) => prompts[i]), opts);
      miss.forEach((i, j) => this.cache.set(keys[i], fb[j].scores));
    }
    this.hits += images.length - miss.length;
    return keys.map((k) => ({ scores: { ...this.cache.get(k)! } }));
  }

  dispose(): void | Promise<void> {
    return this.inner.dispose();
  }
}
