import * as fs from 'fs';
import * as ort from 'onnxruntime-node';
(async () => {
  const file = process.argv[2]; const level = (process.argv[3] ?? 'all') as any;
  const s = await ort.InferenceSession.create(file, { intraOpNumThreads: 2, interOpNumThreads: 1, executionMode: 'sequential', graphOptimizationLevel: level, enableProfiling: true, profileFilePrefix: '/tmp/ortprof' });
  console.log(s.inputNames, s.outputNames);
  const S = 224; const x = new Float32Array(S * S * 3).map((_, i) => Math.sin(i) * 0.5);
  const feeds: any = { pixel_values: new ort.Tensor('float32', x, [1, S, S, 3]) };
  const ids = new BigInt64Array(33).map((_, i) => BigInt(i % 50 + 2)); 
  for (const n of s.inputNames) if (n !== 'pixel_values') feeds[n] = new ort.Tensor('int64', n.startsWith('attention') ? new BigInt64Array(33).fill(1n) : ids, [1, 33]);
  for (let i = 0; i < 3; i++) { const t0 = Date.now(); await s.run(feeds); console.log('run', Date.now() - t0); }
  const f = s.endProfiling(); console.log(f);
})();
