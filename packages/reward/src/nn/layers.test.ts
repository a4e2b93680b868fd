import * as tf from '@tensorflow/tfjs';
import { initBackend } from '../backend';
import { matMulWeightT } from './layers';

beforeAll(async () => {
  await initBackend();
});

test('matMulWeightT equals x·Wᵀ, and its gradients equal those of the plain matMul', () => {
  const x = tf.randomNormal([5, 7], 0, 1, 'float32', 1) as tf.Tensor2D;
  const w = tf.randomNormal([3, 7], 0, 1, 'float32', 2) as tf.Tensor2D;
  const dy = tf.randomNormal([5, 3], 0, 1, 'float32', 3);
  const loss = (f: (a: tf.Tensor2D, b: tf.Tensor2D) => tf.Tensor) => (a: tf.Tensor, b: tf.Tensor) => tf.sum(tf.mul(f(a as tf.Tensor2D, b as tf.Tensor2D), dy));
  const fast = tf.grads(loss(matMulWeightT));
  const plain = tf.grads(loss((a, b) => tf.matMul(a, b, false, true)));
  const [gx, gw] = fast([x, w]);
  const [rx, rw] = plain([x, w]);
  const close = (a: tf.Tensor, b: tf.Tensor) => Math.max(...Array.from(tf.abs(tf.sub(a, b)).dataSync()));
  expect(close(matMulWeightT(x, w), tf.matMul(x, w, false, true))).toBeLessThan(1e-5);
  expect(gx.shape).toEqual([5, 7]);
  expect(gw.shape).toEqual([3, 7]);
  expect(close(gx, rx)).toBeLessThan(1e-5);
  expect(close(gw, rw)).toBeLessThan(1e-5);
});

test('a frozen (non-trainable) weight is a constant: same value and dx, no weight gradient', () => {
  const x = tf.randomNormal([4, 6], 0, 1, 'float32', 4) as tf.Tensor2D;
  const w = tf.variable(tf.randomNormal([5, 6], 0, 1, 'float32', 5), false) as tf.Variable<tf.Rank.R2>;
  const dy = tf.randomNormal([4, 5], 0, 1, 'float32', 6);
  const gx = tf.grad((a: tf.Tensor) => tf.sum(tf.mul(matMulWeightT(a as tf.Tensor2D, w), dy)))(x);
  const rx = tf.grad((a: tf.Tensor) => tf.sum(tf.mul(tf.matMul(a, w, false, true), dy)))(x);
  const maxDiff = (a: tf.Tensor, b: tf.Tensor) => Math.max(...Array.from(tf.abs(tf.sub(a, b)).dataSync()));
  expect(maxDiff(matMulWeightT(x, w), tf.matMul(x, w, false, true))).toBeLessThan(1e-5);
  expect(maxDiff(gx, rx)).toBeLessThan(1e-5);
  // tfjs refuses to differentiate w.r.t. a frozen variable: the weight is never on the gradient path.
  expect(() => tf.variableGrads(() => tf.sum(matMulWeightT(x, w)) as tf.Scalar, [w])).toThrow(/trainable/);
});
