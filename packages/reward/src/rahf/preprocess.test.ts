import * as tf from '@tensorflow/tfjs';
import { initBackend } from '../backend';
import { RgbImage, resizeImage } from '../image';
import { compare } from '../parity/fixtures';
import { pilBilinearMatrix, resizeBilinearPil } from './preprocess';

beforeAll(async () => {
  await initBackend();
});

function testImage(w: number, h: number): RgbImage {
  const data = new Float32Array(w * h * 3);
  for (let i = 0; i < data.length; i++) data[i] = ((i * 7919) % 256) / 255; // 8-bit levels, busy pattern
  return { data, width: w, height: h };
}

test.each([
  [37, 50, 64, 64], // upscale
  [200, 150, 64, 64], // downscale (antialiased)
  [64, 80, 64, 48], // one axis only
])('matches PIL bilinear (src/image.ts) from %ix%i to %ix%i within 8-bit rounding', (w, h, ow, oh) => {
  const img = testImage(w, h);
  const want = resizeImage(img, ow, oh, 'bilinear').data;
  const got = tf.tidy(() => resizeBilinearPil(tf.tensor4d(img.data, [1, h, w, 3]), oh, ow).dataSync());
  // PIL rounds to 8 bits after each pass; the float version does not.
  expect(compare(got, want).maxErr).toBeLessThan(1.5 / 255);
});

test('rows of the resampling matrix sum to one', () => {
  for (const [i, o] of [[7, 3], [3, 7], [512, 384]]) {
    const m = pilBilinearMatrix(i, o);
    for (let r = 0; r < o; r++) {
      let s = 0;
      for (let c = 0; c < i; c++) s += m[r * i + c];
      expect(Math.abs(s - 1)).toBeLessThan(1e-6);
    }
  }
});

test('is differentiable: the gradient of the output sum spreads exactly one unit per output value', () => {
  const x = tf.randomUniform([2, 30, 20, 3], 0, 1, 'float32', 1) as tf.Tensor4D;
  const g = tf.grad((v: tf.Tensor) => tf.sum(resizeBilinearPil(v as tf.Tensor4D, 16, 24)))(x);
  expect(g.shape).toEqual([2, 30, 20, 3]);
  expect(Math.abs(tf.sum(g).dataSync()[0] - 2 * 16 * 24 * 3)).toBeLessThan(1e-2);
  tf.dispose([x, g]);
});

test('returns the input when the size already matches', () => {
  const x = tf.zeros([1, 8, 8, 3]) as tf.Tensor4D;
  expect(resizeBilinearPil(x, 8, 8)).toBe(x);
  x.dispose();
});
