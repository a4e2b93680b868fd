import * as fs from 'fs';
import * as path from 'path';
import { encodeModel } from '@richhf/reward/onnx';
import { writeFileAtomic } from '@richhf/reward/util';
import type { VaeCheckpoint } from './checkpoint';
import { asModel, decoderGraph } from './onnx-graph';

/*
 * A VAE decoder as a plain (forward-only) ONNX graph in optimum's `vae_decoder/model.onnx` convention, the
 * layout Stable Diffusion ONNX exports use: input `latent_sample` [batch_size, C, height_latent,
 * width_latent] = latents / scaling_factor (the pipeline divides, as diffusers' ONNX pipelines do); output
 * `sample` [batch_size, 3, height, width] in [-1, 1]; batch and spatial sizes dynamic.
 */

export interface ExportDecoderOptions {
  /** Also write the VAE's config.json beside the model (what optimum's vae_decoder/ folders hold). */
  withConfig?: boolean;
}

/** Writes the graph atomically (temp file, then rename). `decoder`: any of this package's VAE decoders, or a checkpoint. */
export function exportDecoderOnnx(decoder: { checkpoint: VaeCheckpoint } | VaeCheckpoint, file: string, opts: ExportDecoderOptions = {}): void {
  const ckpt = 'checkpoint' in decoder ? decoder.checkpoint : decoder;
  const arch = ckpt.arch;
  const graph = decoderGraph(ckpt, {
    shape: ['batch_size', arch.latentChannels, 'height_latent', 'width_latent'],
    input: 'latent_sample',
    outputs: ['sample'],
    outputDims: ['height', 'width'],
  });
  const model = asModel(graph, {
    docString: `${arch.kind} decoder from ${ckpt.dir}; latent_sample = latents · [${arch.unscale.scale}] + [${arch.unscale.shift}] per channel`,
    metadata: { scaling_factor: String(arch.scalingFactor), shift_factor: String(arch.shiftFactor), upscale: String(arch.upscale) },
  });
  writeFileAtomic(file, encodeModel(model));
  if (opts.withConfig) writeFileAtomic(path.join(path.dirname(file), 'config.json'), fs.readFileSync(ckpt.configFile));
}
