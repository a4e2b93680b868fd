import * as tf from '@tensorflow/tfjs';
import { RgbImage, normalizeRgb, resampleWeights, resizeForViT } from '../image';
import type { RahfConfig } from './config';

/*
 * Pixels → the model's input (PIL-bilinear resize to the model size, then (x − mean) / std), on every
 * engine with the same weights: decoded 8-bit images through src/image.ts (PIL-exact); pixels in [0, 1]
 * in float, differentiable in tfjs (resizeBilinearPil, RewardModel.preprocess), on the host (the
 * onnxruntime scorer) and as ONNX nodes (onnx/preprocess-graph.ts, the onnxruntime gradient).
 */

/** What preprocessing reads of a model config. */
export type InputSpec = Pick<RahfConfig, 'imageSize' | 'imageMean' | 'imageStd'>;

/**
 * 1-D resampling matrix [outSize, inSize] of PIL's bilinear `Image.resize` (what HF's ViT processor
 * uses): src/image.ts's resampleWeights laid out densely and kept in float instead of PIL's fixed point,
 * so the resize can sit inside a differentiated function.
 */
export function pilBilinearMatrix(inSize: number, outSize: number): Float32Array {
  const { ksize, bounds, w } = resampleWeights(inSize, outSize, 'bilinear');
  const m = new Float32Array(outSize * inSize);
  for (let o = 0; o < outSize; o++) {
    const [lo, n] = [bounds[2 * o], bounds[2 * o + 1]];
    for (let t = 0; t < n; t++) m[o * inSize + lo + t] = w[o * ksize + t];
  }
  return m;
}

/**
 * Resize NHWC images to [B, h, w, C] with PIL-bilinear weights as two matMuls with constant matrices:
 * differentiable on every backend (tfjs's ResizeBilinearGrad ignores half-pixel centres on wasm).
 * Returns the input unchanged when the size already matches.
 */
export function resizeBilinearPil(x: tf.Tensor4D, h: number, w: number): tf.Tensor4D {
  const [b, ih, iw, c] = x.shape;
  if (ih === h && iw === w) return x;
  return tf.tidy(() => {
    // Each pass is one 2-D matMul on the axis being resized moved to the front.
    let y: tf.Tensor = tf.transpose(x, [1, 0, 2, 3]); // [ih, B, iw, C]
    if (ih !== h) y = tf.matMul(tf.tensor2d(pilBilinearMatrix(ih, h), [h, ih]), y.reshape([ih, -1])).reshape([h, b, iw, c]);
    y = tf.transpose(y, [2, 1, 0, 3]); // [iw, B, h, C]
    if (iw !== w) y = tf.matMul(tf.tensor2d(pilBilinearMatrix(iw, w), [w, iw]), y.reshape([iw, -1])).reshape([w, b, h, c]);
    return tf.transpose(y, [1, 2, 0, 3]) as tf.Tensor4D;
  });
}

/**
 * resizeBilinearPil on the host: NHWC [B, h, w, 3] in a Float32Array → [B, s, s, 3], rows first, then
 * columns, with the same float weights (what the onnxruntime scorer feeds its graphs). Returns the input
 * when the size already matches.
 */
export function resizeBilinearPilHost(x: Float32Array, b: number, h: number, w: number, s: number): Float32Array {
  if (h === s && w === s) return x;
  const my = pilBilinearMatrix(h, s);
  const mx = pilBilinearMatrix(w, s);
  const rows = new Float32Array(b * s * w * 3);
  for (let n = 0; n < b; n++)
    for (let o = 0; o < s; o++)
      for (let i = 0; i < h; i++) {
        const wt = my[o * h + i];
        if (wt === 0) continue;
        const src = (n * h + i) * w * 3;
        const dst = (n * s + o) * w * 3;
        for (let k = 0; k < w * 3; k++) rows[dst + k] += wt * x[src + k];
      }
  const out = new Float32Array(b * s * s * 3);
  for (let n = 0; n < b; n++)
    for (let r = 0; r < s; r++)
      for (let o = 0; o < s; o++)
        for (let j = 0; j < w; j++) {
          const wt = mx[o * w + j];
          if (wt === 0) continue;
          const src = ((n * s + r) * w + j) * 3;
          const dst = ((n * s + r) * s + o) * 3;
          for (let c = 0; c < 3; c++) out[dst + c] += wt * rows[src + c];
        }
  return out;
}

/** Normalised model input [n, S, S, 3] on the host for decoded images of any size. */
export async function imagesToModelInput(images: RgbImage[], c: InputSpec): Promise<Float32Array> {
  const s = c.imageSize;
  const out = new Float32Array(images.length * s * s * 3);
  for (let i = 0; i < images.length; i++) out.set(await resizeForViT(images[i], s, { mean: c.imageMean, std: c.imageStd }), i * s * s * 3);
  return out;
}

/** Normalised model input [n, S, S, 3] on the host for NHWC pixels in [0, 1] of size h × w. */
export function pixelsToModelInput(x: Float32Array, n: number, h: number, w: number, c: InputSpec): Float32Array {
  return normalizeRgb(resizeBilinearPilHost(x, n, h, w, c.imageSize), c.imageMean, c.imageStd);
}
