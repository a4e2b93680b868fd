import * as tf from '@tensorflow/tfjs';
import { linear } from '../nn/layers';
import { Params } from '../nn/params';

/*
 * Optional word grounding (config `word_grounding`, not part of the paper's RAHF): one attention from each
 * caption position of the joint encoder output to the image positions of the heads' feature map (encoder
 * image positions plus the stem skip), its read-out projected and added to that caption position. The
 * keyword decoder and the caption pooling then read captions that carry what their words' regions look
 * like. Why: the encoder's caption positions never see the stem skip (added after the encoder), where the
 * colours and edges are, and on a trained checkpoint's frozen features one such attention, trained as a probe,
 * told misaligned words from aligned ones better than the caption positions alone (assets/rahf-tiny/TRAINING.md).
 * Single head, width of the encoder, scaled dot product.
 */
export const WORD_GROUNDING = 'word_grounding';

/** Names of its four linear layers (PyTorch layout, [D, D] weight + [D] bias each). */
export const WORD_GROUNDING_LAYERS = ['q', 'k', 'v', 'o'].map((n) => `${WORD_GROUNDING}.${n}`);

/** caption [B, L, D] + o(softmax(q(caption) · k(image)ᵀ / √D) · v(image)), image [B, N, D]. */
export function groundCaption(caption: tf.Tensor3D, image: tf.Tensor3D, p: Params): tf.Tensor3D {
  return tf.tidy(() => {
    const [q, k, v] = [
      linear(caption, p, `${WORD_GROUNDING}.q`),
      linear(image, p, `${WORD_GROUNDING}.k`),
      linear(image, p, `${WORD_GROUNDING}.v`),
    ] as tf.Tensor3D[];
    const att = tf.softmax(tf.mul(tf.matMul(q, k, false, true), 1 / Math.sqrt(caption.shape[2])));
    return tf.add(caption, linear(tf.matMul(att, v), p, `${WORD_GROUNDING}.o`)) as tf.Tensor3D;
  });
}
