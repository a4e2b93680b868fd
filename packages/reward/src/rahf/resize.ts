import * as tf from '@tensorflow/tfjs';

/**
 * 1-D resampling matrix [outSize, inSize] of PIL's bilinear `Image.resize` (what HF's ViT processor
 * uses): a triangle filter widened by the scale factor when shrinking (antialiasing), weights
 * renormalised at the borders. Same coefficients as src/image.ts, kept in float instead of PIL's
 * fixed point so the resize can sit inside a differentiated function.
 */
export function pilBilinearMatrix(inSize: number, outSize: number): Float32Array {
  const m = new Float32Array(outSize * inSize);
  const scale = inSize / outSize;
  const filterScale = Math.max(scale, 1);
  const support = filterScale; // bilinear support 1, widened when downscaling
  for (let o = 0; o < outSize; o++) {
    const center = (o + 0.5) * scale;
    const lo = Math.max(Math.trunc(center - support + 0.5), 0);
    const hi = Math.min(Math.trunc(center + support + 0.5), inSize);
    let sum = 0;
    for (let i = lo; i < hi; i++) sum += Math.max(0, 1 - Math.abs((i - center + 0.5) / filterScale));
    for (let i = lo; i < hi; i++) {
      const w = Math.max(0, 1 - Math.abs((i - center + 0.5) / filterScale));
      m[o * inSize + i] = sum !== 0 ? w / sum : w;
    }
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
