import { readSafetensors } from '../src/io/safetensors';
for (const n of ['t5_tiny_relu', 't5_tiny_gated_gelu']) { const io = readSafetensors(`test/fixtures/parity/models/${n}/io.safetensors`); const g = io.get('greedy_generate')!; console.log(n, g.shape, Array.from(g.data)); }
const io = readSafetensors(`test/fixtures/parity/rahf/rahf_yl_multi/io.safetensors`); console.log(Array.from(io.get('generated_ids')!.data));
