import * as fs from 'fs';
import * as path from 'path';
import { UserError } from '@richhf/reward';
import { checkLatents, type LatentDecoder } from '../decoders/decoder';
import { OrtGraph, type OrtOptions } from './ort-graph';
import { type Shape4 } from './unet';

/**
 * An optimum `vae_decoder/model.onnx` as a {@link LatentDecoder}. The graph takes `latent_sample`, the latents
 * already divided by the scaling factor (optimum exports `vae.decode` alone), and returns diffusers' `sample`,
 * NCHW in [−1, 1]; the factor comes from `vae_decoder/config.json` (optimum copies the VAE config there), else
 * AutoencoderKL's default 0.18215. Images are decoded one at a time, as diffusers' ONNX pipeline does, to bound
 * memory at 512² and above.
 */
export class OnnxVaeDecoder implements LatentDecoder {
  private constructor(
    readonly graph: OrtGraph,
    readonly latentChannels: number,
    readonly scalingFactor: number,
    readonly shiftFactor: number,
    readonly upscale: number,
    private readonly outputName: string,
  ) {}

  /** `dir` is the vae_decoder/ folder (model.onnx, optional config.json). */
  static async load(dir: string, opts: OrtOptions = {}): Promise<OnnxVaeDecoder> {
    const cfgFile = path.join(dir, 'config.json');
    let config: Record<string, unknown> = {};
    if (fs.existsSync(cfgFile)) {
      try {
        config = JSON.parse(fs.readFileSync(cfgFile, 'utf8'));
      } catch (e) {
        throw new UserError(`${cfgFile}: not JSON (${(e as Error).message.split('\n')[0]})`);
      }
    }
    const num = (key: string, dflt: number) => {
      const v = config[key];
      if (v === undefined || v === null) return dflt;
      if (typeof v !== 'number' || !Number.isFinite(v)) throw new UserError(`${cfgFile}: ${key} ${JSON.stringify(v)} is not a number`);
      return v;
    };
    const graph = await OrtGraph.open(path.join(dir, 'model.onnx'), 'VAE decoder', opts);
    try {
      graph.checkInputs([{ name: 'latent_sample', types: ['float32', 'float16'], rank: 4 }], [], "optimum's vae_decoder (latent_sample → sample)");
      const declared = graph.dim('latent_sample', 1);
      const latentChannels = declared ?? num('latent_channels', 4);
      if (declared !== undefined && config.latent_channels !== undefined && declared !== config.latent_channels) {
        throw new UserError(`${cfgFile}: latent_channels ${JSON.stringify(config.latent_channels)} but the graph takes ${declared}`);
      }
      const blocks = Array.isArray(config.block_out_channels) ? config.block_out_channels.length : 4;
      const out = graph.outputNames.includes('sample') ? 'sample' : graph.outputNames[0];
      const scaling = num('scaling_factor', 0.18215);
      if (!(scaling > 0)) throw new UserError(`${cfgFile}: scaling_factor ${scaling} is not positive`);
      return new OnnxVaeDecoder(graph, latentChannels, scaling, num('shift_factor', 0), 2 ** (blocks - 1), out);
    } catch (e) {
      await graph.release();
      throw e;
    }
  }

  get file(): string {
    return this.graph.file;
  }

  /** diffusers' `vae.decode(latents / scaling_factor + shift_factor).sample`: NCHW in [−1, 1], unclamped. */
  async decodeDiffusers(latents: Float32Array, shape: Shape4): Promise<Float32Array> {
    checkLatents(this.file, this.latentChannels, latents, shape);
    const [b, c, h, w] = shape;
    const per = c * h * w;
    const outPer = 3 * h * this.upscale * w * this.upscale;
    const result = new Float32Array(b * outPer);
    for (let i = 0; i < b; i++) {
      const z = new Float32Array(per);
      for (let k = 0; k < per; k++) z[k] = latents[i * per + k] / this.scalingFactor + this.shiftFactor;
      let out;
      try {
        out = (await this.graph.run({ latent_sample: this.graph.tensor('latent_sample', z, [1, c, h, w]) }, [this.outputName]))[this.outputName];
      } catch (e) {
        throw new UserError(`${this.file}: the VAE decoder failed on latents [1, ${c}, ${h}, ${w}] (${String((e as Error).message ?? e).split('\n')[0]})`);
      }
      const dims = out.dims as number[];
      if (dims.length !== 4 || dims[1] !== 3 || dims[2] !== h * this.upscale || dims[3] !== w * this.upscale) {
        const want = `[1, 3, ${h * this.upscale}, ${w * this.upscale}]`;
        throw new UserError(`${this.file}: output [${dims}] for latents [1, ${c}, ${h}, ${w}] (expected ${want}; is block_out_channels in config.json right?)`);
      }
      result.set(OrtGraph.float32(out), i * outPer);
    }
    return result;
  }

  /** Pixels NHWC in [0, 1]: diffusers' postprocess `(sample / 2 + 0.5).clamp(0, 1)`, moved to channels-last. */
  async decode(latents: Float32Array, shape: Shape4): Promise<Float32Array> {
    const sample = await this.decodeDiffusers(latents, shape);
    return samplesToPixels(sample, [shape[0], 3, shape[2] * this.upscale, shape[3] * this.upscale]);
  }

  async dispose(): Promise<void> {
    await this.graph.release();
  }
}

/** NCHW samples in [−1, 1] → NHWC pixels in [0, 1] (clamped). */
export function samplesToPixels(sample: Float32Array, [b, c, h, w]: Shape4): Float32Array {
  const out = new Float32Array(sample.length);
  const hw = h * w;
  for (let i = 0; i < b; i++) {
    for (let ch = 0; ch < c; ch++) {
      const src = (i * c + ch) * hw;
      for (let p = 0; p < hw; p++) out[(i * hw + p) * c + ch] = Math.min(1, Math.max(0, sample[src + p] / 2 + 0.5));
    }
  }
  return out;
}
