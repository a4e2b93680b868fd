import * as tf from '@tensorflow/tfjs';
import { initBackend } from '../backend';
import { compare } from '../parity/fixtures';
import { TORCH_TO_TF_FILTER, conv3x3, conv3x3s2, deconv3x3s2 } from './conv';

const tfFilter = (w: tf.Tensor) => tf.transpose(w, TORCH_TO_TF_FILTER);

beforeAll(async () => {
  await initBackend();
});

/** Deterministic pseudo-random values in [-1, 1). */
function rand(n: number, seed: number): Float32Array {
  const out = new Float32Array(n);
  let s = seed >>> 0;
  for (let i = 0; i < n; i++) {
    s = (Math.imul(s, 1664525) + 1013904223) >>> 0;
    out[i] = s / 2 ** 31 - 1;
  }
  return out;
}

// Direct loops with PyTorch's definitions (NHWC data, PyTorch weight layouts) as the reference.
function refConv(x: Float32Array, [b, h, w, c]: number[], wt: Float32Array, o: number, stride = 1): Float32Array {
  const ho = Math.floor((h - 1) / stride) + 1; // PyTorch: ⌊(h + 2·1 − 3) / s⌋ + 1
  const wo = Math.floor((w - 1) / stride) + 1;
  const y = new Float32Array(b * ho * wo * o);
  for (let n = 0; n < b; n++)
    for (let i = 0; i < ho; i++)
      for (let j = 0; j < wo; j++)
        for (let oc = 0; oc < o; oc++) {
          let s = 0;
          for (let kh = 0; kh < 3; kh++)
            for (let kw = 0; kw < 3; kw++) {
              const ii = stride * i + kh - 1;
              const jj = stride * j + kw - 1;
              if (ii < 0 || jj < 0 || ii >= h || jj >= w) continue;
              for (let ic = 0; ic < c; ic++) s += x[((n * h + ii) * w + jj) * c + ic] * wt[((oc * c + ic) * 3 + kh) * 3 + kw];
            }
          y[((n * ho + i) * wo + j) * o + oc] = s;
        }
  return y;
}

function refDeconv(x: Float32Array, [b, h, w, c]: number[], wt: Float32Array, o: number): Float32Array {
  const H = 2 * h;
  const W = 2 * w;
  const y = new Float32Array(b * H * W * o);
  for (let n = 0; n < b; n++)
    for (let i = 0; i < h; i++)
      for (let j = 0; j < w; j++)
        for (let ic = 0; ic < c; ic++) {
          const v = x[((n * h + i) * w + j) * c + ic];
          for (let kh = 0; kh < 3; kh++)
            for (let kw = 0; kw < 3; kw++) {
              const oi = 2 * i + kh - 1; // stride 2, padding 1
              const oj = 2 * j + kw - 1;
              if (oi < 0 || oj < 0 || oi >= H || oj >= W) continue;
              for (let oc = 0; oc < o; oc++) y[((n * H + oi) * W + oj) * o + oc] += v * wt[((ic * o + oc) * 3 + kh) * 3 + kw];
            }
        }
  return y;
}

const xShape = [2, 5, 4, 3];
const O = 4;

test('conv3x3 matches PyTorch Conv2d(k3, padding 1)', () => {
  const x = rand(2 * 5 * 4 * 3, 1);
  const w = rand(O * 3 * 9, 2);
  const y = tf.tidy(() => conv3x3(tf.tensor4d(x, xShape as any), tfFilter(tf.tensor4d(w, [O, 3, 3, 3]))).dataSync());
  expect(compare(y, refConv(x, xShape, w, O)).maxErr).toBeLessThan(1e-5);
});

test('conv3x3s2 matches PyTorch Conv2d(k3, stride 2, padding 1), odd and even sides', () => {
  const x = rand(2 * 5 * 4 * 3, 8);
  const w = rand(O * 3 * 9, 9);
  const out = tf.tidy(() => {
    const y = conv3x3s2(tf.tensor4d(x, xShape as any), tfFilter(tf.tensor4d(w, [O, 3, 3, 3])));
    return { shape: y.shape, data: y.dataSync() };
  });
  expect(out.shape).toEqual([2, 3, 2, O]);
  expect(compare(out.data, refConv(x, xShape, w, O, 2)).maxErr).toBeLessThan(1e-5);
});

test('deconv3x3s2 matches PyTorch ConvTranspose2d(k3, s2, p1, output_padding 1)', () => {
  const x = rand(2 * 5 * 4 * 3, 3);
  const w = rand(3 * O * 9, 4);
  const out = tf.tidy(() => {
    const y = deconv3x3s2(tf.tensor4d(x, xShape as any), tfFilter(tf.tensor4d(w, [3, O, 3, 3])));
    return { shape: y.shape, data: y.dataSync() };
  });
  expect(out.shape).toEqual([2, 10, 8, O]);
  expect(compare(out.data, refDeconv(x, xShape, w, O)).maxErr).toBeLessThan(1e-5);
});

/** Gradients of Σ y·r with respect to x and the weight, for a loss that weighs every output. */
function grads(op: 'conv' | 'conv_s2' | 'deconv', native: boolean): Float32Array[] {
  return tf.tidy(() => {
    const x = tf.tensor4d(rand(2 * 5 * 4 * 3, 5), xShape as any);
    const wShape: [number, number, number, number] = op === 'deconv' ? [3, O, 3, 3] : [O, 3, 3, 3];
    const w = tf.tensor4d(rand(O * 27, 6), wShape);
    const outShape = { conv: [2, 5, 4, O], conv_s2: [2, 3, 2, O], deconv: [2, 10, 8, O] }[op];
    const r = tf.tensor(rand(outShape.reduce((a, b) => a * b), 7), outShape);
    const f = (xx: tf.Tensor, ww: tf.Tensor) => {
      let y: tf.Tensor;
      const filt = tfFilter(ww) as tf.Tensor4D;
      if (!native) y = { conv: conv3x3, conv_s2: conv3x3s2, deconv: deconv3x3s2 }[op](xx as tf.Tensor4D, filt);
      else if (op === 'conv') y = tf.conv2d(xx as tf.Tensor4D, filt, 1, 'same');
      else if (op === 'conv_s2') y = tf.conv2d(xx as tf.Tensor4D, filt, 2, [[0, 0], [1, 1], [1, 1], [0, 0]]);
      else y = tf.conv2dTranspose(xx as tf.Tensor4D, filt, outShape as any, 2, 1);
      return tf.sum(tf.mul(y, r));
    };
    return tf.grads(f)([x, w]).map((g) => g.dataSync() as Float32Array);
  });
}

test.each(['conv', 'conv_s2', 'deconv'] as const)('%s gradients equal tfjs autodiff on the cpu backend and run on the active one', async (op) => {
  const mine = grads(op, false); // active backend (wasm here): must not need Conv2DBackpropFilter
  const active = tf.getBackend();
  const warn = jest.spyOn(console, 'warn').mockImplementation(() => undefined); // cpu's "install tfjs-node" notice
  await tf.setBackend('cpu');
  let ref: Float32Array[];
  try {
    ref = grads(op, true);
  } finally {
    await tf.setBackend(active);
    warn.mockRestore();
  }
  expect(mine.length).toBe(2);
  for (let i = 0; i < 2; i++) expect(compare(mine[i], ref[i]).maxErr).toBeLessThan(1e-4);
});
