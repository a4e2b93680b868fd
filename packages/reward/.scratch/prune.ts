import * as ort from 'onnxruntime-node';
import { GraphBuilder } from '/work/main/packages/reward/src/onnx/graph';
import { encodeModel } from '/work/main/packages/reward/src/onnx/proto';
(async () => {
  const g = new GraphBuilder('t');
  const x = g.input('x', 'float32', ['b', 1024]);
  g.output(g.add(x, g.f32(1)), 'a', 'float32', ['b', 1024]);
  let y = x;
  const w = g.init('w', new Float32Array(1024 * 1024).fill(0.001), [1024, 1024]);
  for (let i = 0; i < 50; i++) y = g.matMul(y, w);
  g.output(y, 'big', 'float32', ['b', 1024]);
  const bytes = encodeModel(g.model());
  const s = await ort.InferenceSession.create(bytes, { intraOpNumThreads: 2 });
  const feed = { x: new ort.Tensor('float32', new Float32Array(64 * 1024), [64, 1024]) };
  for (const outs of [['a'], ['big'], ['a'], ['big']]) {
    const t0 = Date.now(); const r = await s.run(feed, outs); console.log(outs, Date.now() - t0, 'ms', Object.keys(r));
  }
})();
