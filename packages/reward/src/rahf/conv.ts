import * as tf from '@tensorflow/tfjs';

/**
 * The two convolutions of RAHF's heads, NHWC, with PyTorch semantics and gradients that run on
 * every tfjs backend. tfjs-backend-wasm has Conv2D and Conv2DBackpropInput but no
 * Conv2DBackpropFilter, so the built-in gradient of conv2d / conv2dTranspose with respect to the
 * filter throws there. The filter gradients below are written as nine shifted slices and matMuls
 * (the 3×3 taps), which every backend supports; the input gradients keep the native kernels.
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

/** tap(kh,kw)ᵀ · rhs summed over batch and positions, for each of the 3×3 taps, stacked as [3,3,A,B]. */
function tapGradients(tap: (kh: number, kw: number) => tf.Tensor, rhs: tf.Tensor2D): tf.Tensor4D {
  const rows: tf.Tensor[] = [];
  for (let kh = 0; kh < K; kh++) {
    for (let kw = 0; kw < K; kw++) {
      const t = tap(kh, kw);
      const m = t.reshape([-1, t.shape[t.rank - 1]]) as tf.Tensor2D;
      rows.push(tf.matMul(m, rhs, true, false));
    }
  }
  const [a, b] = rows[0].shape;
  return tf.stack(rows).reshape([K, K, a, b]) as tf.Tensor4D;
}

const conv3x3Core = tf.customGrad((...args: (tf.Tensor | tf.GradSaveFunc)[]) => {
  const [x4, f4, save] = args as [tf.Tensor4D, tf.Tensor4D, tf.GradSaveFunc];
  save([x4, f4]);
  return {
    value: tf.conv2d(x4, f4, 1, 'same'),
    gradFunc: (dy: tf.Tensor | tf.Tensor[], saved: tf.Tensor[]) => {
      const g = dy as tf.Tensor4D;
      const [xs, fs] = saved as [tf.Tensor4D, tf.Tensor4D];
      const [b, h, w, c] = xs.shape;
      const o = fs.shape[3];
      const dx = tf.conv2dTranspose(g, fs, [b, h, w, c], 1, 'same');
      // y[b,i,j,o] = Σ xpad[b,i+kh,j+kw,c]·f[kh,kw,c,o]  ⇒  df[kh,kw] = Σ xpad-shifted(kh,kw)ᵀ · dy
      const xpad = tf.pad(xs, [[0, 0], [1, 1], [1, 1], [0, 0]]);
      const dyFlat = g.reshape([b * h * w, o]) as tf.Tensor2D;
      const df = tapGradients((kh, kw) => tf.slice(xpad, [0, kh, kw, 0], [b, h, w, c]), dyFlat);
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
      const [bb, hh, ww, c] = xs.shape;
      const o = fs.shape[2];
      const dx = tf.conv2d(g, fs, 2, 1);
      // df[kh,kw,o,c] = Σ dy[b, 2i+kh−1, 2j+kw−1, o]·x[b,i,j,c]: even rows/cols of a shifted window of
      // dy padded by one, taken by reshaping pairs apart (no strided slice needed).
      const dpad = tf.pad(g, [[0, 0], [1, 1], [1, 1], [0, 0]]);
      const xFlat = xs.reshape([bb * hh * ww, c]) as tf.Tensor2D;
      const tap = (kh: number, kw: number) =>
        tf
          .slice(dpad, [0, kh, kw, 0], [bb, 2 * hh, 2 * ww, o])
          .reshape([bb, hh, 2, ww, 2, o])
          .slice([0, 0, 0, 0, 0, 0], [bb, hh, 1, ww, 1, o]);
      const df = tapGradients(tap, xFlat);
      return [dx, df];
    },
  };
});

/** PyTorch Conv2d(k3, stride 1, padding 1 / 'same') on NHWC input; filter [3, 3, in, out]. */
export function conv3x3(x: tf.Tensor4D, filter: tf.Tensor, bias?: tf.Tensor): tf.Tensor4D {
  const y = conv3x3Core(x, checkFilter(filter)) as tf.Tensor4D;
  return bias ? tf.add(y, bias) : y;
}

/** PyTorch ConvTranspose2d(k3, stride 2, padding 1, output_padding 1) on NHWC; filter [3, 3, out, in]. */
export function deconv3x3s2(x: tf.Tensor4D, filter: tf.Tensor, bias?: tf.Tensor): tf.Tensor4D {
  if (filter.shape[3] !== x.shape[3]) {
    throw new Error(`deconv filter [${filter.shape}] expects ${filter.shape[3]} input channels, got ${x.shape[3]}`);
  }
  const y = deconvCore(x, checkFilter(filter)) as tf.Tensor4D;
  return bias ? tf.add(y, bias) : y;
}
