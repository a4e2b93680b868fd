import { SCORE_NAMES, type RahfConfig, type RewardGradient, type ScoreGradOptions, type ScoreGradResult, type ScoreName, type ScoreWeights } from '@richhf/reward';
import { type DifferentiableDecoder } from '../decoders/decoder';

/*
 * Small exact stand-ins for the two models guidance differentiates through, so its arithmetic can be checked
 * against finite differences in milliseconds: a linear decoder and a quadratic reward, both honouring the
 * contracts (NCHW unscaled latents → NHWC pixels; scores and d(Σ w·score)/d pixels).
 */

/** pixels[b, y, x, c] = 0.5 + k·z[b, c, ⌊y/u⌋, ⌊x/u⌋] for c < 3 (latent channel 3 unused), no clamp. */
export class LinearDecoder implements DifferentiableDecoder {
  readonly scalingFactor = 1;
  calls = 0;
  constructor(
    readonly latentChannels = 4,
    readonly upscale = 2,
    readonly k = 0.25,
  ) {}

  async decode(z: Float32Array, shape: [number, number, number, number]): Promise<Float32Array> {
    this.calls++;
    const [b, c, h, w] = shape;
    const u = this.upscale;
    const [H, W] = [h * u, w * u];
    const out = new Float32Array(b * H * W * 3);
    for (let i = 0; i < b; i++) {
      for (let y = 0; y < H; y++) {
        for (let x = 0; x < W; x++) {
          for (let ch = 0; ch < 3; ch++) out[((i * H + y) * W + x) * 3 + ch] = 0.5 + this.k * z[((i * c + ch) * h + Math.floor(y / u)) * w + Math.floor(x / u)];
        }
      }
    }
    return out;
  }

  async decodeVjp(z: Float32Array, shape: [number, number, number, number], g: Float32Array): Promise<{ pixels: Float32Array; gradLatents: Float32Array }> {
    const pixels = await this.decode(z, shape);
    const [b, c, h, w] = shape;
    const u = this.upscale;
    const [H, W] = [h * u, w * u];
    const gradLatents = new Float32Array(z.length);
    for (let i = 0; i < b; i++) {
      for (let y = 0; y < H; y++) {
        for (let x = 0; x < W; x++) {
          for (let ch = 0; ch < 3; ch++) gradLatents[((i * c + ch) * h + Math.floor(y / u)) * w + Math.floor(x / u)] += this.k * g[((i * H + y) * W + x) * 3 + ch];
        }
      }
    }
    return { pixels, gradLatents };
  }

  async dispose(): Promise<void> {}
}

/**
 * Every score = 1 − mean((p − target)²) per image (plausibility takes only the red channel), so the reward
 * rises as images approach `target`. `poison(call, image)` makes an image's gradient NaN on a call.
 */
export class QuadraticReward implements RewardGradient {
  readonly engine = 'ort' as const;
  readonly config = { imageSize: 16 } as RahfConfig;
  calls = 0;
  prompts: string[][] = [];
  constructor(
    readonly target: [number, number, number] = [0.8, 0.3, 0.6],
    readonly poison?: (call: number, image: number) => boolean,
  ) {}

  async scoreGrad(pixels: Float32Array, prompts: string[], weights: ScoreWeights, opts: ScoreGradOptions = {}): Promise<ScoreGradResult> {
    const call = this.calls++;
    this.prompts.push(prompts);
    const b = prompts.length;
    const per = pixels.length / b;
    if (opts.size && opts.size[0] * opts.size[1] * 3 !== per) throw new Error(`QuadraticReward: size [${opts.size}] does not fit ${per} values per image`);
    const scores = Object.fromEntries(SCORE_NAMES.map((k) => [k, new Float32Array(b)])) as Record<ScoreName, Float32Array>;
    const grad = new Float32Array(pixels.length);
    for (let i = 0; i < b; i++) {
      let all = 0;
      let red = 0;
      for (let j = 0; j < per; j++) {
        const d = pixels[i * per + j] - this.target[j % 3];
        all += d * d;
        if (j % 3 === 0) red += d * d;
      }
      for (const k of SCORE_NAMES) scores[k][i] = k === 'plausibility' ? 1 - red / (per / 3) : 1 - all / per;
      for (let j = 0; j < per; j++) {
        const d = pixels[i * per + j] - this.target[j % 3];
        let g = 0;
        for (const [k, w] of Object.entries(weights) as [ScoreName, number][]) {
          if (k === 'plausibility') g += j % 3 === 0 ? (w * -2 * d) / (per / 3) : 0;
          else g += (w * -2 * d) / per;
        }
        grad[i * per + j] = this.poison?.(call, i) ? NaN : g;
      }
    }
    return { scores, grad };
  }

  dispose(): void {}
}
