import * as tf from '@tensorflow/tfjs';

/**
 * tf.grad of `loss` at `x` is finite, has x's shape, and along `dir` agrees with a central difference
 * of step `eps` within `rtol` (relative). Returns the gradient (caller disposes).
 */
export function expectDirectionalGrad(loss: (x: tf.Tensor4D) => tf.Scalar, x: tf.Tensor4D, dir: tf.Tensor4D, eps = 1e-2, rtol = 0.02): tf.Tensor {
  const g = tf.grad((v: tf.Tensor) => loss(v as tf.Tensor4D))(x);
  expect(g.shape).toEqual(x.shape);
  expect(g.isFinite().all().dataSync()[0]).toBe(1);
  const analytic = tf.sum(tf.mul(g, dir)).dataSync()[0];
  expect(Math.abs(analytic)).toBeGreaterThan(1e-3);
  const f = (s: number): number => loss(tf.add(x, tf.mul(dir, s)) as tf.Tensor4D).dataSync()[0];
  const numeric = (f(eps) - f(-eps)) / (2 * eps);
  expect(Math.abs(numeric - analytic)).toBeLessThan(rtol * Math.abs(analytic));
  return g;
}
