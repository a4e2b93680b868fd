import { GraphBuilder } from '../onnx/graph';
import { graphFlops } from './flops';

test('graphFlops counts 2 × multiply-adds of MatMul, Gemm, Conv and ConvTranspose at the given shapes', () => {
  const g = new GraphBuilder('f');
  const x = g.input('x', 'float32', ['batch', 5, 6]);
  const w = g.init('w', new Float32Array(6 * 7), [6, 7]);
  const y = g.matMul(x, w); // [B, 5, 7], K = 6
  const v = g.input('v', 'float32', [4, 3]);
  const gw = g.init('gw', new Float32Array(8 * 3), [8, 3]);
  const gemm = g.op('Gemm', [v, gw], { transB: 1 }); // [4, 8], K = 3
  const img = g.input('img', 'float32', ['batch', 3, 10, 10]);
  const cw = g.init('cw', new Float32Array(16 * 3 * 3 * 3), [16, 3, 3, 3]);
  const conv = g.op('Conv', [img, cw], { kernel_shape: [3, 3], pads: [1, 1, 1, 1] }); // [B, 16, 10, 10]
  const tw = g.init('tw', new Float32Array(16 * 4 * 2 * 2), [16, 4, 2, 2]);
  const up = g.op('ConvTranspose', [conv, tw], { kernel_shape: [2, 2], strides: [2, 2] }); // [B, 4, 20, 20]
  const r = g.op('Relu', [y]);
  g.output(r, 'y', 'float32', ['batch', 5, 7]);
  g.output(gemm, 'g', 'float32', [4, 8]);
  g.output(up, 'u', 'float32', ['batch', 4, 20, 20]);
  const f = graphFlops(g.build(), { x: [2, 5, 6], img: [2, 3, 10, 10] });
  expect(f.byOp).toEqual({
    MatMul: 2 * 2 * 5 * 7 * 6,
    Gemm: 2 * 4 * 8 * 3,
    Conv: 2 * 2 * 16 * 10 * 10 * (3 * 3 * 3),
    ConvTranspose: 2 * 2 * 16 * 10 * 10 * (4 * 2 * 2),
  });
  expect(f.total).toBe(Object.values(f.byOp).reduce((a, b) => a + b, 0));
});
