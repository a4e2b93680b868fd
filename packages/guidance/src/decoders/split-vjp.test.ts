import * as ort from 'onnxruntime-node';
import { GraphBuilder, OnnxModel, encodeModel, gradientModel } from '@richhf/reward/onnx';
import { splitVjp } from './split-vjp';

const wave = (n: number, k: number) => Float32Array.from({ length: n }, (_, i) => Math.sin(i * k + 0.3));
const session = (m: OnnxModel) => ort.InferenceSession.create(encodeModel(m), { intraOpNumThreads: 1 });

/** y = tanh(relu(conv(x)) · 2) + x·3: a ReLU, a Tanh (its output reused by the backward) and a graph input the backward reads. */
function net(): OnnxModel {
  const g = new GraphBuilder('net');
  const x = g.input('x', 'float32', [1, 2, 5, 5]);
  const w = g.init('w', wave(2 * 2 * 9, 0.7), [2, 2, 3, 3]);
  const h = g.relu(g.op('Conv', [x, w], { kernel_shape: [3, 3], pads: [1, 1, 1, 1] }));
  const y = g.add(g.op('Tanh', [g.mul(h, g.f32(2))]), g.mul(g.mul(x, x), g.f32(3)));
  g.output(y, 'y', 'float32', [1, 2, 5, 5]);
  return gradientModel(g.build(), { inputShapes: { x: [1, 2, 5, 5] }, seeds: [{ value: 'y', input: 'grad_y' }], wrt: ['x'], keepOutputs: ['y'] });
}

test('forward then backward gives exactly the one-piece gradient graph, and the forward halves saves no float activations it need not', async () => {
  const model = net();
  const s = splitVjp(model, ['grad_y'], { x: [1, 2, 5, 5], grad_y: [1, 2, 5, 5] }, ['y']);
  expect(s.forward.graph.inputs.map((v) => v.name)).toEqual(['x']);
  expect(s.backward.graph.outputs.map((v) => v.name)).toEqual(['grad_x']);
  expect(s.reusedInputs).toEqual(['x']); // d(3x²)/dx reads x
  // The ReLU's mask crosses as bool; no forward op runs again on the backward side.
  const dtypes = s.forward.graph.outputs.slice(1).map((v) => v.dtype);
  expect(dtypes).toContain('bool');
  expect(s.backward.graph.nodes.some((n) => n.op === 'Conv' && n.inputs[0] === 'x')).toBe(false);
  expect(s.backward.graph.nodes.filter((n) => n.op === 'Tanh')).toHaveLength(0);

  const x = new ort.Tensor('float32', wave(50, 1.1), [1, 2, 5, 5]);
  const gy = new ort.Tensor('float32', wave(50, 2.3), [1, 2, 5, 5]);
  const [whole, fwd, bwd] = await Promise.all([session(model), session(s.forward), session(s.backward)]);
  try {
    const ref = await whole.run({ x, grad_y: gy });
    const f = await fwd.run({ x });
    const feeds: Record<string, ort.Tensor> = { grad_y: gy, x };
    for (const n of s.saved) feeds[n] = f[n];
    const b = await bwd.run(feeds);
    expect(f.y.data).toEqual(ref.y.data);
    expect(b.grad_x.data).toEqual(ref.grad_x.data);
    expect(Array.from(b.grad_x.data as Float32Array).some((v) => v !== 0)).toBe(true);
  } finally {
    await Promise.all([whole.release(), fwd.release(), bwd.release()]);
  }
});

test('a seed that is not an input, or a kept output that depends on the seed, is refused', () => {
  const model = net();
  expect(() => splitVjp(model, ['grad_z'], { x: [1, 2, 5, 5] }, ['y'])).toThrow(/"grad_z" is not an input of/);
  expect(() => splitVjp(model, ['grad_y'], { x: [1, 2, 5, 5], grad_y: [1, 2, 5, 5] }, ['grad_x'])).toThrow(/"grad_x" is not a forward output/);
});
