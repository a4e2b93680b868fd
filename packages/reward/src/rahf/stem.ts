import * as tf from '@tensorflow/tfjs';
import { Params } from '../nn/params';
import { ParamShapes, convNormRelu, convNormReluShapes } from './heads';

/*
 * Optional convolutional image stem in front of the ViT (config `image_stem`, not part of the paper's
 * RAHF): k stages of 3×3 stride-2 conv (PyTorch padding 1) → channel RMS norm → ReLU, widths as
 * listed, so the ViT then patchifies an (S/2^k)² map of the last width with patch_size / 2^k.
 * Why: a from-scratch ViT behind a linear patch embedding learns local damage (smears, slices, warps)
 * slowly; early convolutions are the standard remedy (Xiao et al. 2021, "Early Convolutions Help
 * Transformers See Better"). Names follow the heads' nn.Sequential style: `image_stem.{3k}` conv,
 * `image_stem.{3k+1}` norm. Filters are held in the tfjs layout like the heads' (see conv.ts).
 */

export const STEM_PREFIX = 'image_stem.';

/** Checkpoint (PyTorch) shapes of a stem on `channels`-channel input, names relative to the model. */
export function imageStemShapes(widths: number[], channels = 3): ParamShapes {
  return convNormReluShapes(STEM_PREFIX, channels, widths);
}

/** NHWC pixels [B, S, S, C] → [B, S/2^k, S/2^k, last width]; `p` is the model's root scope. */
export function imageStem(x: tf.Tensor4D, p: Params, widths: number[]): tf.Tensor4D {
  return tf.tidy(() => convNormRelu(x, p, STEM_PREFIX, widths, 2));
}
