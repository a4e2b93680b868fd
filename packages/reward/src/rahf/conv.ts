import * as tf from '@tensorflow/tfjs';

/**
 * The two convolutions of RAHF's heads, NHWC, with PyTorch semantics and gradients that run on
 * every tfjs backend. tfjs-backend-wasm has Conv2D and Conv2DBackpropInput but no
 * Conv2DBackpropFilter, so the built-in gradient of conv2d / conv2dTranspose with respect to the
 * filter throws there. The filter gradients below are themselves forward convolutions (batch and
 * channels swapped, the output gradient or the input as the filter — how TensorFlow derives them),
 * which every backend has and wasm runs fast (shifted-slice formulations were 10–100× slower there);
 * the input gradients keep the native kernels.
 */

const K = 3; // every conv in the heads is 3×3

/**
 * PyTorch conv weights → tfjs filters: Conv2d [out, in, kh, kw] → [kh, kw, in, out] and
 * ConvTranspose2d [in, out, kh, kw] → [kh, kw, out, in] are the same permutation. The model keeps its
 * head weights in the tfjs layout (transposing multi-million-element filters on every forward costs
 * more than the small convs themselves on wasm) and converts at load and save.
 */
export const TORCH_TO_TF_FILTER = [2, 3, 1, 0];
/** Inverse of {@link TORCH_TO_TF_FILTER}. */
export const TF_TO_TORCH_FILTER = [3, 2, 0, 1];

function checkFilter(f: tf.Tensor): tf.Tensor4D {
  if (f.rank !== 4 || f.shape[0] !== K || f.shape[1] !== K) {
    throw new Error(`conv filter has shape [${f.shape}], expected [${K}, ${K}, *, *] (tfjs layout)`);
  }
  return f as tf.Tensor4D;
}

const conv3x3Core = tf.customGrad((...args: (tf.Tensor | tf.GradSaveFunc)[]) => {
  const [x4, f4, save] = args as [tf.Tensor4D, tf.Tensor4D, tf.GradSaveFunc];
  save([x4, f4]);
  return {
    value: tf.conv2d(x4, f4, 1, 'same'),
    gradFunc: (dy: tf.Tensor | tf.Tensor[], saved: tf.Tensor[]) => {
      const g = dy as tf.Tensor4D;
      const [xs, fs] = saved as [tf.Tensor4D, tf.Tensor4D];
      // dx: the 'same' conv of dy with the spatially flipped filter, in/out swapped (wasm's forward Conv2D
      // is several times faster than its Conv2DBackpropInput).
      const dx = tf.conv2d(g, tf.reverse(fs, [0, 1]).transpose([0, 1, 3, 2]) as tf.Tensor4D, 1, 'same');
      // y[b,i,j,o] = Σ xpad[b,i+kh,j+kw,c]·f[kh,kw,c,o]  ⇒  df[kh,kw,c,o] = Σ_{b,i,j} xpad[b,i+kh,j+kw,c]·dy[b,i,j,o]:
      // a 'valid' conv of xpad with channels and batch swapped, dy as the (H×W) filter.
      const xpad = tf.pad(xs, [[0, 0], [1, 1], [1, 1], [0, 0]]).transpose([3, 1, 2, 0]) as tf.Tensor4D; // [C, H+2, W+2, B]
      const df = tf.conv2d(xpad, g.transpose([1, 2, 0, 3]) as tf.Tensor4D, 1, 'valid').transpose([1, 2, 0, 3]); // [3,3,C,O]
      return [dx, df];
    },
  };
});

const deconvCore = tf.customGrad((...args: (tf.Tensor | tf.GradSaveFunc)[]) => {
  const [x4, f4, save] = args as [tf.Tensor4D, tf.Tensor4D, tf.GradSaveFunc]; // f4: [3, 3, out, in]
  save([x4, f4]);
  const [b, h, w] = x4.shape;
  // PyTorch ConvTranspose2d(k3, s2, p1, output_padding 1): output 2H×2W, output row o = 2i + kh − 1.
  // tfjs pads the equivalent forward conv by 1 on each side, which gives the same alignment.
  return {
    value: tf.conv2dTranspose(x4, f4, [b, 2 * h, 2 * w, f4.shape[2]], 2, 1),
    gradFunc: (dy: tf.Tensor | tf.Tensor[], saved: tf.Tensor[]) => {
      const g = dy as tf.Tensor4D;
      const [xs, fs] = saved as [tf.Tensor4D, tf.Tensor4D];
      const dx = tf.conv2d(g, fs, 2, 1);
      // df[kh,kw,o,c] = Σ_{b,i,j} dy[b, 2i+kh−1, 2j+kw−1, o]·x[b,i,j,c]: a 'valid' conv of dy (padded by one
      // in front, channels and batch swapped) with x as a filter dilated by 2.
      const dpad = tf.pad(g, [[0, 0], [1, 0], [1, 0], [0, 0]]).transpose([3, 1, 2, 0]) as tf.Tensor4D; // [O, 2H+1, 2W+1, B]
      const df = tf.conv2d(dpad, xs.transpose([1, 2, 0, 3]) as tf.Tensor4D, 1, 'valid', 'NHWC', 2).transpose([1, 2, 0, 3]); // [3,3,O,C]
      return [dx, df];
    },
  };
});

const conv3x3s2Core = tf.customGrad((...args: (tf.Tensor | tf.GradSaveFunc)[]) => {
  const [x4, f4, save] = args as [tf.Tensor4D, tf.Tensor4D, tf.GradSaveFunc];
  save([x4, f4]);
  return {
    value: tf.conv2d(x4, f4, 2, STRIDE2_PAD),
    gradFunc: (dy: tf.Tensor | tf.Tensor[], saved: tf.Tensor[]) => {
      const g = dy as tf.Tensor4D;
      const [xs, fs] = saved as [tf.Tensor4D, tf.Tensor4D];
      const dx = tf.conv2dTranspose(g, fs, xs.shape, 2, 1);
      // y[b,i,j,o] = Σ xpad[b,2i+kh,2j+kw,c]·f[kh,kw,c,o]  ⇒  df[kh,kw,c,o] = Σ_{b,i,j} xpad[b,2i+kh,2j+kw,c]·dy[b,i,j,o]:
      // a 'valid' conv of xpad (channels and batch swapped) with dy dilated by 2 as the filter; its first 3×3 outputs.
      const xpad = tf.pad(xs, [[0, 0], [1, 1], [1, 1], [0, 0]]).transpose([3, 1, 2, 0]) as tf.Tensor4D; // [C, H+2, W+2, B]
      const full = tf.conv2d(xpad, g.transpose([1, 2, 0, 3]) as tf.Tensor4D, 1, 'valid', 'NHWC', 2); // [C, ≥3, ≥3, O]
      const df = tf.slice(full, [0, 0, 0, 0], [-1, K, K, -1]).transpose([1, 2, 0, 3]); // [3,3,C,O]
      return [dx, df];
    },
  };
});

/**
 * A frozen filter (a non-trainable variable: inference, scoreGrad) takes the plain tfjs op, whose
 * gradient w.r.t. the input is the native kernel and which never computes a filter gradient — the
 * custom cores always return one (wasted work, and on wasm the paper preset's filter-gradient conv trapped).
 */
function frozen(f: tf.Tensor): boolean {
  return f instanceof tf.Variable && !f.trainable;
}

/** PyTorch Conv2d(k3, stride 1, padding 1 / 'same') on NHWC input; filter [3, 3, in, out]. */
export function conv3x3(x: tf.Tensor4D, filter: tf.Tensor, bias?: tf.Tensor): tf.Tensor4D {
  const f = checkFilter(filter);
  const y = frozen(f) ? tf.conv2d(x, f, 1, 'same') : (conv3x3Core(x, f) as tf.Tensor4D);
  return bias ? tf.add(y, bias) : y;
}

const STRIDE2_PAD: [[number, number], [number, number], [number, number], [number, number]] = [[0, 0], [1, 1], [1, 1], [0, 0]];

/** PyTorch Conv2d(k3, stride 2, padding 1) on NHWC input (H → ⌈H/2⌉); filter [3, 3, in, out]. */
export function conv3x3s2(x: tf.Tensor4D, filter: tf.Tensor, bias?: tf.Tensor): tf.Tensor4D {
  const f = checkFilter(filter);
  const y = frozen(f) ? tf.conv2d(x, f, 2, STRIDE2_PAD) : (conv3x3s2Core(x, f) as tf.Tensor4D);
  return bias ? tf.add(y, bias) : y;
}

/** PyTorch ConvTranspose2d(k3, stride 2, padding 1, output_padding 1) on NHWC; filter [3, 3, out, in]. */
export function deconv3x3s2(x: tf.Tensor4D, filter: tf.Tensor, bias?: tf.Tensor): tf.Tensor4D {
  if (filter.shape[3] !== x.shape[3]) {
    throw new Error(`deconv filter [${filter.shape}] expects ${filter.shape[3]} input channels, got ${x.shape[3]}`);
  }
  const f = checkFilter(filter);
  const [b, h, w] = x.shape;
  const y = frozen(f) ? tf.conv2dTranspose(x, f, [b, 2 * h, 2 * w, f.shape[2]], 2, 1) : (deconvCore(x, f) as tf.Tensor4D);
  return bias ? tf.add(y, bias) : y;
}
