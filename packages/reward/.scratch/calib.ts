import * as ort from 'onnxruntime-node';
import { GraphBuilder } from '../src/onnx/graph';
import { encodeModel } from '../src/onnx/proto';
const B = Number(process.argv[3] ?? 1);
(async () => {
  const g = new GraphBuilder('t');
  const x = g.input('x', 'float32', [B, 229, 3072]);
  g.output(g.matMul(x, g.init('w', new Float32Array(3072 * 768).map((_, i) => Math.sin(i) * 0.01), [3072, 768])), 'y', 'float32', [B, 229, 768]);
  const s = await ort.InferenceSession.create(encodeModel(g.model()), { intraOpNumThreads: Number(process.argv[2] ?? 2) });
  const feeds = { x: new ort.Tensor('float32', new Float32Array(B * 229 * 3072).map((_, i) => Math.cos(i)), [B, 229, 3072]) };
  const ts: number[] = [];
  for (let i = 0; i < 40; i++) { const t0 = process.hrtime.bigint(); await s.run(feeds); ts.push(Number(process.hrtime.bigint() - t0) / 1e6); }
  ts.sort((a, b) => a - b);
  console.log('min', ts[0].toFixed(2), 'median', ts[20].toFixed(2), 'ms', 'GFLOP/s at min', (B * 229 * 3072 * 768 * 2 / ts[0] / 1e6).toFixed(0));
})();
