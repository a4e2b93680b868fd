import * as ort from 'onnxruntime-node';
(async () => {
  const file = process.argv[2]; const B = Number(process.argv[3] ?? 1);
  const s = await ort.InferenceSession.create(file, { intraOpNumThreads: 2, interOpNumThreads: 1, executionMode: 'sequential', graphOptimizationLevel: 'all', enableProfiling: true, profileFilePrefix: '/tmp/ortprof', ...(process.argv[4] ? { optimizedModelFilePath: process.argv[4] } : {}) });
  const S = 224; const x = new Float32Array(B * S * S * 3).map((_, i) => Math.sin(i) * 0.5);
  const feeds: any = { pixel_values: new ort.Tensor('float32', x, [B, S, S, 3]) };
  const ids = new BigInt64Array(B * 33).map((_, i) => BigInt(i % 50 + 2));
  for (const n of s.inputNames) if (n !== 'pixel_values') feeds[n] = new ort.Tensor('int64', n.startsWith('attention') ? new BigInt64Array(B * 33).fill(1n) : ids, [B, 33]);
  for (let i = 0; i < 3; i++) { const t0 = Date.now(); await s.run(feeds); console.log('run', Date.now() - t0); }
  s.endProfiling();
})();
