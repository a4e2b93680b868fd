import { RawDtype } from './safetensors';

/*
 * What the restricted unpickler (unpickler.ts) builds from a torch checkpoint's pickle: plain values,
 * dicts, and references to tensors and their storages — never Python objects, never code.
 */

export const STORAGE_DTYPE: Record<string, RawDtype> = {
  FloatStorage: 'F32',
  DoubleStorage: 'F64',
  HalfStorage: 'F16',
  BFloat16Storage: 'BF16',
  LongStorage: 'I64',
  IntStorage: 'I32',
  ShortStorage: 'I16',
  CharStorage: 'I8',
  ByteStorage: 'U8',
  BoolStorage: 'BOOL',
};

export const ALLOWED_CALLABLES = new Set([
  'collections.OrderedDict',
  'torch._utils._rebuild_tensor',
  'torch._utils._rebuild_tensor_v2',
  'torch._utils._rebuild_parameter',
  'torch._utils._rebuild_parameter_with_state',
  'torch.device',
]);

export class PyGlobal {
  constructor(readonly module: string, readonly name: string) {}
  get qualname(): string {
    return `${this.module}.${this.name}`;
  }
}

/** A Python dict (or OrderedDict); insertion-ordered like Python's. Keys are primitives or tuple strings. */
export class PyDict {
  readonly items = new Map<unknown, unknown>();
}

export class StorageRef {
  constructor(
    readonly key: string,
    readonly dtype: RawDtype,
    readonly numel: number,
  ) {}
}

export class TensorRef {
  constructor(
    readonly storage: StorageRef,
    readonly offset: number,
    readonly size: number[],
    readonly stride: number[],
  ) {}
}

