import { GraphBuilder, OPSET, OnnxGraph, OnnxModel } from '@richhf/reward/onnx';
import type { VaeCheckpoint } from './checkpoint';
import { OnnxOps } from './onnx-ops';

/*
 * Decoder and encoder graphs of a VAE checkpoint (the architecture run by OnnxOps). Dimensions are numbers
 * (fixed shapes, as the gradient graphs need) or names (dynamic axes, as optimum exports have).
 */

type Dim = number | string;

export interface DecoderGraphSpec {
  /** Latents [B, C, h, w]; C must be the VAE's latent channels. */
  shape: [Dim, number, Dim, Dim];
  /**
   * 'latents' (default): the sampler's latents, divided by scaling_factor (plus shift_factor) inside the graph.
   * 'latent_sample': already divided — optimum's vae_decoder convention.
   */
  input?: 'latents' | 'latent_sample';
  /** 'pixels': NHWC in [0, 1] (clamped); 'sample': diffusers' NCHW output in [-1, 1]. */
  outputs: ('pixels' | 'sample')[];
  /** Names of the output's height and width when those are dynamic (default `<latent dim>*<upscale>`). */
  outputDims?: [string, string];
}

/** A graph as a model at the reward package's export opset. */
export function asModel(graph: OnnxGraph, meta: Pick<OnnxModel, 'docString' | 'metadata'> = {}): OnnxModel {
  return { graph, opset: OPSET, producer: '@richhf/guidance', ...meta };
}

const times = (d: Dim, k: number): Dim => (typeof d === 'number' ? d * k : `${d}*${k}`);

export function decoderGraph(ckpt: VaeCheckpoint, spec: DecoderGraphSpec): OnnxGraph {
  const arch = ckpt.arch;
  const g = new GraphBuilder(`${arch.kind}_decoder`);
  const ops = new OnnxOps(g, ckpt.tensors);
  const name = spec.input ?? 'latents';
  const [b, c, h, w] = spec.shape;
  let z = ops.withChannels(g.input(name, 'float32', [b, c, h, w]), c);
  if (name === 'latents') z = ops.channelAffine(z, arch.unscale.scale, arch.unscale.shift);
  const sample = arch.decode(ops, z);
  const [H, W] = [typeof h === 'string' && spec.outputDims ? spec.outputDims[0] : times(h, arch.upscale), typeof w === 'string' && spec.outputDims ? spec.outputDims[1] : times(w, arch.upscale)];
  const oc = arch.imageChannels;
  for (const out of spec.outputs) {
    if (out === 'sample') g.output(sample, 'sample', 'float32', [b, oc, H, W]);
    else {
      // diffusers' postprocess: (x / 2 + 0.5).clamp(0, 1); Max / Min rather than Clip (no gradient rule for Clip).
      const p01 = g.op('Min', [g.op('Max', [g.add(g.mul(sample, g.f32(0.5)), g.f32(0.5)), g.f32(0)]), g.f32(1)]);
      g.output(g.transpose(p01, [0, 2, 3, 1]), 'pixels', 'float32', [b, H, W, oc]);
    }
  }
  return g.build();
}

export interface EncoderGraphSpec {
  /** Pixels [B, H, W, C] in [0, 1] (NHWC, as images). */
  shape: [Dim, Dim, Dim, number];
}

/** Outputs `mean` (and `logvar` for AutoencoderKL), NCHW, unscaled (diffusers' latent_dist). */
export function encoderGraph(ckpt: VaeCheckpoint, spec: EncoderGraphSpec): OnnxGraph {
  const arch = ckpt.arch;
  const g = new GraphBuilder(`${arch.kind}_encoder`);
  const ops = new OnnxOps(g, ckpt.tensors);
  const [b, h, w, c] = spec.shape;
  const pixels = g.input('pixels', 'float32', [b, h, w, c]);
  const x = ops.withChannels(g.add(g.mul(g.transpose(pixels, [0, 3, 1, 2]), g.f32(2)), g.f32(-1)), c);
  const out = arch.encode(ops, x);
  const lat: [Dim, number, Dim, Dim] = [b, arch.latentChannels, typeof h === 'number' ? h / arch.downscale : `${h}/${arch.downscale}`, typeof w === 'number' ? w / arch.downscale : `${w}/${arch.downscale}`];
  g.output(out.mean, 'mean', 'float32', lat);
  if (out.logvar) g.output(out.logvar, 'logvar', 'float32', lat);
  return g.build();
}
