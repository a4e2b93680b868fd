import * as fs from 'fs';
import { HostTensor, TensorMap, numel } from './tensors';
import { ITEMSIZE, decodeRaw, readFully } from './safetensors';
import { PyDict, StorageRef, TensorRef } from './pickle-values';
import { Unpickler } from './unpickler';
import { ZipReader } from './zip-reader';
import { openRegular } from './files';
import { FileFormatError, LimitError, UserError } from '../errors';
import { Limits, checkLimit, limitHint, limitsWith } from './limits';

/**
 * Reader for `torch.save` checkpoints (the zip format torch has written since 1.6):
 *   <archive>/data.pkl     the pickled object; tensors refer to storages by persistent id
 *   <archive>/data/<key>   raw little-endian storage bytes (stored, 64-byte aligned)
 *   <archive>/byteorder    "little" | "big" (absent in some versions: little)
 *   <archive>/version
 *
 * The pickle is interpreted, never executed: the restricted unpickler (unpickler.ts) accepts only an
 * allow-list of globals (OrderedDict, tensor/parameter rebuild functions, typed storages, torch.device);
 * the archive is read entry by entry (zip-reader.ts).
 */

const WRAPPER_KEYS = ['state_dict', 'model_state_dict', 'model', 'module'];

/**
 * Reads the tensors of a `torch.save`d checkpoint without executing its pickle.
 *
 * Which tensors, and their names:
 * - a dict whose values are all tensors is the state_dict itself;
 * - otherwise, if it has a wrapper key ('state_dict', 'model_state_dict', 'model', 'module', checked in
 *   that order) holding a dict with tensors, that dict is used and its siblings (optimizer state, epoch,
 *   …) are ignored — their storages are never read;
 * - otherwise all nested dicts/lists are flattened with '.'-joined keys ({'a': {'b': t}} → 'a.b') and
 *   non-tensor leaves are dropped.
 * Tensors sharing a storage (tied weights) share memory when contiguous; F16/BF16/F64 become float32,
 * integer types int32, bool bool.
 */
export function readTorchCheckpoint(file: string, opts: { limits?: Partial<Limits> } = {}): TensorMap {
  const limits = limitsWith(opts.limits);
  const { fd, size } = openRegular(file, 'a torch checkpoint');
  try {
    const head = Buffer.alloc(Math.min(512, size));
    readFully(fd, head, 0, file);
    if (head.length < 4 || head.readUInt32LE(0) !== 0x04034b50) {
      if (head[0] === 0x80) {
        throw new UserError(
          `${file}: legacy torch.save format (pre-1.6, not a zip archive) is not supported; re-save it with torch>=1.6 or convert it to safetensors`,
        );
      }
      if (head.length >= 262 && head.toString('latin1', 257, 262) === 'ustar') {
        throw new UserError(`${file}: legacy tar-format torch checkpoint is not supported; re-save it with torch>=1.6 or convert it to safetensors`);
      }
      throw new UserError(`${file}: not a torch zip checkpoint`);
    }
    const zip = new ZipReader(fd, file, limits);
    const pkls = [...zip.entries.keys()].filter((n) => /^[^/]+\/data\.pkl$/.test(n));
    if (pkls.length !== 1) {
      throw new UserError(`${file}: expected one '<archive>/data.pkl' in the torch zip, found ${pkls.length}`);
    }
    const prefix = pkls[0].slice(0, -'data.pkl'.length);
    if (zip.entries.has(`${prefix}constants.pkl`)) {
      throw new UserError(`${file}: TorchScript archives are not supported; save the weights with torch.save(model.state_dict())`);
    }
    let bigEndian = false;
    if (zip.entries.has(`${prefix}byteorder`)) {
      const order = Buffer.from(zip.read(`${prefix}byteorder`)).toString('latin1').trim();
      if (order !== 'little' && order !== 'big') throw new UserError(`${file}: unknown byteorder '${order}'`);
      bigEndian = order === 'big';
    }

    checkLimit(file, `the pickle (${pkls[0]}) size`, zip.entries.get(pkls[0])!.usize, 'maxPickleBytes', limits);
    const root = new Unpickler(zip.read(pkls[0]), file, limits).load();
    const refs = selectTensors(root, file, limits.maxPickleDepth);
    if (refs.size === 0) throw new UserError(`${file}: no tensors found in the checkpoint`);

    const storages = new Map<string, Pick<HostTensor, 'dtype' | 'data'>>();
    const declared = new Map<string, StorageRef>();
    const out: TensorMap = new Map();
    for (const [name, ref] of refs) {
      const st = ref.storage;
      let s = storages.get(st.key);
      const first = declared.get(st.key);
      // One storage, one declaration: a second tensor claiming another dtype or size for the same key
      // would read bytes the first never checked.
      if (first && (first.dtype !== st.dtype || first.numel !== st.numel)) {
        throw new FileFormatError(file, `storage ${st.key} is declared as ${first.numel} ${first.dtype} and as ${st.numel} ${st.dtype}`);
      }
      declared.set(st.key, st);
      if (!s) {
        const entry = `${prefix}data/${st.key}`;
        const raw = zip.read(entry);
        const need = st.numel * ITEMSIZE[st.dtype];
        if (raw.length < need) throw new UserError(`${file}: storage ${st.key} has ${raw.length} bytes, expected ${need}`);
        const bytes = raw.subarray(0, need);
        if (bigEndian) byteswap(bytes, ITEMSIZE[st.dtype]);
        s = decodeRaw(bytes, st.dtype, `${file}: storage ${st.key}`);
        storages.set(st.key, s);
      }
      out.set(name, { dtype: s.dtype, shape: ref.size, data: viewTensor(s.data, ref, st, `${file}: tensor '${name}'`, limits) });
    }
    return out;
  } finally {
    fs.closeSync(fd);
  }
}

function selectTensors(root: unknown, file: string, maxDepth: number): Map<string, TensorRef> {
  let target = root;
  if (root instanceof PyDict && ![...root.items.values()].every((v) => v instanceof TensorRef)) {
    for (const k of WRAPPER_KEYS) {
      const v = root.items.get(k);
      if (v instanceof PyDict && hasTensor(v)) {
        target = v;
        break;
      }
    }
  }
  // Depth-first with an explicit stack, in the order a recursive walk would visit: a pickle nests as deep
  // as its bytes allow, and recursion would overflow the call stack.
  const out = new Map<string, TensorRef>();
  const seen = new Set<unknown>();
  const stack: Array<{ v: unknown; name: string; depth: number }> = [{ v: target, name: '', depth: 0 }];
  while (stack.length) {
    const { v, name, depth } = stack.pop()!;
    if (v instanceof TensorRef) {
      if (out.has(name)) throw new FileFormatError(file, `two tensors flatten to the same name '${name}'`);
      out.set(name, v);
      continue;
    }
    if (seen.has(v) || !(v instanceof PyDict || Array.isArray(v))) continue; // memo references can make cycles
    seen.add(v);
    if (depth >= maxDepth) throw new LimitError(file, `containers nest deeper than ${limitHint('maxPickleDepth', maxDepth)}`, 'maxPickleDepth');
    const join = (k: unknown) => (name ? `${name}.${String(k)}` : String(k));
    const children: Array<[unknown, unknown]> = v instanceof PyDict ? [...v.items] : v.map((x, i) => [i, x]);
    for (let i = children.length - 1; i >= 0; i--) stack.push({ v: children[i][1], name: join(children[i][0]), depth: depth + 1 });
  }
  return out;
}

/** Whether a tensor is reachable from `root` (iteratively, for the reason selectTensors gives). */
function hasTensor(root: unknown): boolean {
  const seen = new Set<unknown>();
  const stack = [root];
  while (stack.length) {
    const v = stack.pop();
    if (v instanceof TensorRef) return true;
    if (seen.has(v)) continue;
    seen.add(v);
    if (v instanceof PyDict) for (const x of v.items.values()) stack.push(x);
    else if (Array.isArray(v)) for (const x of v) stack.push(x);
  }
  return false;
}

function byteswap(b: Uint8Array, size: number): void {
  if (size === 1) return;
  for (let i = 0; i < b.length; i += size) {
    for (let a = i, z = i + size - 1; a < z; a++, z--) {
      const t = b[a];
      b[a] = b[z];
      b[z] = t;
    }
  }
}

/** The tensor's elements out of its storage: a view when contiguous, a strided gather otherwise. */
function viewTensor(data: HostTensor['data'], ref: TensorRef, st: StorageRef, what: string, limits: Readonly<Limits>): HostTensor['data'] {
  const { size, stride, offset } = ref;
  const n = numel(size);
  if (n === 0) return data.slice(0, 0);
  let last = offset;
  for (let d = 0; d < size.length; d++) last += (size[d] - 1) * stride[d];
  if (!Number.isSafeInteger(offset) || offset < 0 || !Number.isSafeInteger(last) || last >= st.numel || last >= data.length) {
    throw new UserError(`${what}: size [${size}] stride [${stride}] offset ${offset} reaches past its storage (${st.numel} elements)`);
  }
  let contiguous = true;
  for (let d = size.length - 1, expect = 1; d >= 0; d--) {
    if (size[d] !== 1 && stride[d] !== expect) contiguous = false;
    expect *= size[d];
  }
  if (contiguous) return data.subarray(offset, offset + n);
  // A gather allocates n elements; past the storage's own size only overlapping (stride-0, expanded) views
  // get there, and those are bounded.
  if (n > st.numel + limits.maxExpandedElements) {
    throw new LimitError(what, `a strided view of ${n} elements over a storage of ${st.numel} is over the ${limitHint('maxExpandedElements', limits.maxExpandedElements)} (extra elements)`, 'maxExpandedElements');
  }

  const out = new (data.constructor as { new (n: number): HostTensor['data'] })(n);
  const rank = size.length;
  const idx = new Array<number>(rank).fill(0);
  let src = offset;
  for (let i = 0; i < n; i++) {
    out[i] = data[src];
    for (let d = rank - 1; d >= 0; d--) {
      idx[d]++;
      src += stride[d];
      if (idx[d] < size[d]) break;
      src -= stride[d] * size[d];
      idx[d] = 0;
    }
  }
  return out;
}
