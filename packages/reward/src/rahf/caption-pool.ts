import * as tf from '@tensorflow/tfjs';
import { linear } from '../nn/layers';
import { Params } from '../nn/params';

/*
 * Optional caption pooling (config `caption_pool`, not part of the paper's RAHF): the caption positions of
 * the joint encoder output, averaged over the real tokens (pads excluded when the config masks them),
 * projected by one linear layer and added at every position of the feature map the score and heatmap
 * heads read. Why: the heads read only the image positions, so whether the prompt's words found their
 * objects (alignment, a third of overall) reaches them only through attention inside the encoder; this
 * gives the score losses a direct path to the caption side, the side the keyword decoder reads.
 */
export const CAPTION_POOL = 'caption_pool';

/** Mean of caption [B, L, D] over the tokens of mask [B, L] (1 = token; none = every position) → [B, D]. */
export function captionMean(caption: tf.Tensor3D, mask?: tf.Tensor2D): tf.Tensor2D {
  return tf.tidy(() => {
    const [b, l] = caption.shape;
    const m = mask ? tf.expandDims(tf.cast(mask, 'float32'), 2) : tf.ones([b, l, 1]);
    return tf.div(tf.sum(tf.mul(caption, m), 1), tf.sum(m, 1)) as tf.Tensor2D;
  });
}

/** caption [B, L, D] and its mask (see captionMean) → [B, 1, 1, D] to add to an NHWC map. */
export function captionPool(caption: tf.Tensor3D, mask: tf.Tensor2D | undefined, p: Params): tf.Tensor4D {
  return tf.tidy(() => {
    const [b, , d] = caption.shape;
    return linear(captionMean(caption, mask), p, CAPTION_POOL).reshape([b, 1, 1, d]) as tf.Tensor4D;
  });
}
