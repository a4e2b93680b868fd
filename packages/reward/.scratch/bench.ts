import { initBackend } from '../src/backend';
import { benchOnnx } from '../src/bench/onnx';
(async () => { await initBackend(); const f = await benchOnnx({ preset: process.argv[2], tokenizer: 'test/fixtures/parity/rahf/t5/tokenizer.json', runs: Number(process.argv[3] ?? 5), dir: process.argv[5], int8: process.argv[4] !== 'noint8' }); console.log(JSON.stringify(f, null, 1)); })().catch((e) => { console.error(e); process.exit(1); });
