import * as path from 'path';
import fc from 'fast-check';
import { readSafetensors, readShardedSafetensors } from '../io/safetensors';
import { numel, TensorMap } from '../io/tensors';
import { readTorchCheckpoint } from '../io/torch-pickle';
import { RawTensor, StDtype, elementBytes, safetensorsBytes, torchZipBytes, utf8 } from './encode';
import { Target, digestBytes } from './target';

/** Fuzz targets of the weight readers: safetensors, sharded safetensors, torch zip/pickle. */

const DTYPES: StDtype[] = ['F64', 'F32', 'F16', 'BF16', 'I64', 'I32', 'I16', 'I8', 'U8', 'BOOL'];

const tensorArb: fc.Arbitrary<RawTensor> = fc
  .record({
    name: fc.stringMatching(/^[a-z]{1,3}(\.[a-z0-9]{1,3}){0,2}$/),
    dtype: fc.constantFrom(...DTYPES),
    shape: fc.array(fc.integer({ min: 0, max: 5 }), { maxLength: 3 }),
    seed: fc.integer({ min: -100, max: 100 }),
  })
  .map(({ name, dtype, shape, seed }) => {
    const values = Array.from({ length: numel(shape) }, (_, i) => ((seed + i * 7) % 120) - 10);
    return { name, dtype, shape, bytes: elementBytes(dtype, values) };
  });

const tensorsArb = fc.uniqueArray(tensorArb, { minLength: 1, maxLength: 4, selector: (t) => t.name });

/** Names, dtypes, shapes and bytes of every tensor. */
export function tensorSummary(m: TensorMap): string {
  return [...m].map(([k, t]) => `${k}|${t.dtype}|${t.shape.join('x')}|${digestBytes(t.data)}`).sort().join('\n');
}

/** A decoded tensor whose data does not fill its shape is garbage whatever the file said. */
function consistent(m: TensorMap): string | undefined {
  for (const [k, t] of m) {
    if (t.data.length !== numel(t.shape)) return `tensor ${k}: ${t.data.length} values for shape [${t.shape}]`;
    if (!t.shape.every((d) => Number.isSafeInteger(d) && d >= 0)) return `tensor ${k}: shape [${t.shape}]`;
  }
  return undefined;
}

export const safetensorsTarget: Target<RawTensor[], TensorMap> = {
  name: 'safetensors',
  json: false,
  integrity: false,
  spec: tensorsArb,
  build: async (tensors) => ({ files: { 'model.safetensors': safetensorsBytes(tensors, { format: 'pt' }) }, main: 'model.safetensors' }),
  parse: async (dir, main) => readSafetensors(path.join(dir, main)),
  summary: tensorSummary,
  check: consistent,
};

export const shardedTarget: Target<RawTensor[][], TensorMap> = {
  name: 'sharded index',
  json: true,
  integrity: false,
  spec: fc.array(tensorsArb, { minLength: 1, maxLength: 3 }).map((shards) => {
    const seen = new Set<string>();
    return shards.map((ts, i) => ts.filter((t) => !seen.has(t.name) && seen.add(t.name)).map((t) => ({ ...t, name: `${t.name}${i}` })));
  }),
  build: async (shards) => {
    const files: Record<string, Uint8Array> = {};
    const weightMap: Record<string, string> = {};
    shards.forEach((ts, i) => {
      const name = `model-${String(i + 1).padStart(5, '0')}-of-${String(shards.length).padStart(5, '0')}.safetensors`;
      files[name] = safetensorsBytes(ts);
      for (const t of ts) weightMap[t.name] = name;
    });
    files['model.safetensors.index.json'] = utf8(JSON.stringify({ metadata: { total_size: 0 }, weight_map: weightMap }, null, 1));
    return { files, main: 'model.safetensors.index.json' };
  },
  parse: async (dir, main) => readShardedSafetensors(path.join(dir, main)),
  summary: tensorSummary,
  check: consistent,
};

// ---- torch ---------------------------------------------------------------------------------------------

const STORAGE_CLASS: Record<StDtype, string> = {
  F64: 'DoubleStorage', F32: 'FloatStorage', F16: 'HalfStorage', BF16: 'BFloat16Storage', I64: 'LongStorage',
  I32: 'IntStorage', I16: 'ShortStorage', I8: 'CharStorage', U8: 'ByteStorage', BOOL: 'BoolStorage',
};

interface TorchSpec {
  storages: Array<{ dtype: StDtype; numel: number; seed: number }>;
  views: Array<{ storage: number; rows: number; transpose: boolean; offset: number }>;
  wrap: boolean;
  deflatePickle: boolean;
}

const torchArb: fc.Arbitrary<TorchSpec> = fc.record({
  storages: fc.array(fc.record({ dtype: fc.constantFrom(...DTYPES), numel: fc.integer({ min: 1, max: 24 }), seed: fc.integer({ min: -50, max: 50 }) }), { minLength: 1, maxLength: 3 }),
  views: fc.array(fc.record({ storage: fc.nat(), rows: fc.integer({ min: 1, max: 4 }), transpose: fc.boolean(), offset: fc.nat({ max: 3 }) }), { minLength: 1, maxLength: 4 }),
  wrap: fc.boolean(),
  deflatePickle: fc.boolean(),
});

export const torchTarget: Target<TorchSpec, TensorMap> = {
  name: 'torch zip/pickle',
  json: false,
  integrity: true,
  spec: torchArb,
  build: async (spec) => {
    const storages: Record<string, Uint8Array> = {};
    spec.storages.forEach((s, i) => {
      storages[String(i)] = elementBytes(s.dtype, Array.from({ length: s.numel }, (_, j) => ((s.seed + j * 5) % 100) - 20));
    });
    // Views that fit their storage: [rows, cols] from `offset`, contiguous or transposed (strided).
    const tensors = spec.views.map((v, i) => {
      const si = v.storage % spec.storages.length;
      const st = spec.storages[si];
      const offset = Math.min(v.offset, st.numel - 1);
      const rows = Math.min(v.rows, st.numel - offset);
      const cols = Math.max(1, Math.floor((st.numel - offset) / rows));
      const [size, stride] = v.transpose ? [[cols, rows], [1, cols]] : [[rows, cols], [cols, 1]];
      return { name: `layer${i}.weight`, storage: String(si), storageClass: STORAGE_CLASS[st.dtype], storageNumel: st.numel, offset, size, stride };
    });
    return { files: { 'model.pt': torchZipBytes(tensors, storages, { wrap: spec.wrap, deflatePickle: spec.deflatePickle }) }, main: 'model.pt' };
  },
  parse: async (dir, main) => readTorchCheckpoint(path.join(dir, main)),
  summary: tensorSummary,
  check: consistent,
};

