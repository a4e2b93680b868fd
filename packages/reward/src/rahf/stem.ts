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

/**
 * With `image_stem_skip` the stem's last map (one position per token: the ViT's patch_size is 1) is also
 * projected to the T5 width by this linear layer and added to the encoder's feature map that the score and
 * heatmap heads read — a short path from the heads' losses to the convolutions, next to the long one
 * through ViT and T5 (a U-Net-style skip; why: assets/rahf-tiny/TRAINING.md).
 */
export const STEM_SKIP = 'image_stem_skip';

/** Checkpoint (PyTorch) shapes of a stem on `channels`-channel input, names relative to the model. */
export function imageStemShapes(widths: number[], channels = 3): ParamShapes {
  return convNormReluShapes(STEM_PREFIX, channels, widths);
}

/** NHWC pixels [B, S, S, C] → [B, S/2^k, S/2^k, last width]; `p` is the model's root scope. */
export function imageStem(x: tf.Tensor4D, p: Params, widths: number[]): tf.Tensor4D {
  return tf.tidy(() => convNormRelu(x, p, STEM_PREFIX, widths, 2));
}
