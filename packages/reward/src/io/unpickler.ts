import { FileFormatError, LimitError } from '../errors';
import { Limits, getLimits, limitHint } from './limits';
import { ALLOWED_CALLABLES, PyDict, PyGlobal, STORAGE_DTYPE, StorageRef, TensorRef } from './pickle-values';
import { dictKey, isIntTuple, longFromBytes, opName, parseIntText } from './pickle-scalars';

/*
 * A restricted pickle interpreter for torch checkpoints: it implements the opcodes and accepts only the
 * allow-list of globals in pickle-values.ts; everything else is refused when its GLOBAL opcode is read.
 * The idea follows torch's own `weights_only` unpickler (torch/_weights_only_unpickler.py); this is an
 * independent implementation.
 */

/** Restricted pickle interpreter. Only builds data: the result is plain values, PyDicts and TensorRefs. */
export class Unpickler {
  private pos = 0;
  private readonly stack: unknown[] = [];
  private readonly marks: number[] = [];
  private readonly memo = new Map<number, unknown>();
  private readonly utf8 = new TextDecoder('utf-8');

  constructor(
    private readonly buf: Uint8Array,
    private readonly label: string,
    private readonly limits: Readonly<Limits> = getLimits(),
  ) {}

  private fail(msg: string): never {
    throw new FileFormatError(this.label, msg);
  }
  private readonly printKey = (k: unknown): unknown => dictKey(k, this.failer);
  private memoSet(i: number, v: unknown): void {
    if (!this.memo.has(i) && this.memo.size >= this.limits.maxPickleMemo) {
      throw new LimitError(this.label, `pickle memo holds more than ${limitHint('maxPickleMemo', this.limits.maxPickleMemo)} entries`, 'maxPickleMemo');
    }
    this.memo.set(i, v);
  }
  private readonly failer = (msg: string): never => this.fail(msg);
  private index(t: string): number {
    const v = parseIntText(t, this.failer);
    if (typeof v !== 'number' || v < 0) this.fail(`invalid memo index '${t}'`);
    return v;
  }

  private take(n: number): Uint8Array {
    if (n < 0 || this.pos + n > this.buf.length) this.fail(`truncated pickle (wanted ${n} bytes at ${this.pos})`);
    const out = this.buf.subarray(this.pos, this.pos + n);
    this.pos += n;
    return out;
  }
  private u8(): number {
    return this.take(1)[0];
  }
  private u16(): number {
    const b = this.take(2);
    return b[0] | (b[1] << 8);
  }
  private i32(): number {
    const b = this.take(4);
    return b[0] | (b[1] << 8) | (b[2] << 16) | (b[3] << 24);
  }
  private u32(): number {
    return this.i32() >>> 0;
  }
  private u64(): number {
    const b = this.take(8);
    const v = new DataView(b.buffer, b.byteOffset, 8).getBigUint64(0, true);
    if (v > BigInt(Number.MAX_SAFE_INTEGER)) this.fail(`length ${v} too large`);
    return Number(v);
  }
  private line(): string {
    const end = this.buf.indexOf(0x0a, this.pos);
    if (end < 0) this.fail('truncated pickle (missing newline)');
    const s = Buffer.from(this.buf.subarray(this.pos, end)).toString('latin1');
    this.pos = end + 1;
    return s;
  }
  private str(n: number): string {
    return this.utf8.decode(this.take(n));
  }
  private pop(): unknown {
    if (this.stack.length === 0 || (this.marks.length && this.stack.length <= this.marks[this.marks.length - 1])) {
      this.fail('malformed pickle (stack underflow)');
    }
    return this.stack.pop();
  }
  private top(): unknown {
    if (this.stack.length === 0) this.fail('malformed pickle (empty stack)');
    return this.stack[this.stack.length - 1];
  }
  private popMark(): unknown[] {
    const m = this.marks.pop();
    if (m === undefined) this.fail('malformed pickle (no MARK)');
    return this.stack.splice(m);
  }
  private get(i: number): unknown {
    if (!this.memo.has(i)) this.fail(`malformed pickle (memo ${i} unset)`);
    return this.memo.get(i);
  }

  private global(module: string, name: string): PyGlobal {
    const q = `${module}.${name}`;
    if (module === 'torch' && name.endsWith('Storage')) {
      if (name in STORAGE_DTYPE) return new PyGlobal(module, name);
      this.fail(`unsupported tensor storage type '${q}'`);
    }
    if (!ALLOWED_CALLABLES.has(q)) this.fail(`refusing to unpickle global '${q}' (only tensors are allowed)`);
    return new PyGlobal(module, name);
  }

  private setItems(dict: unknown, kv: unknown[]): void {
    if (!(dict instanceof PyDict)) this.fail('malformed pickle (SETITEM on a non-dict)');
    if (kv.length % 2) this.fail('malformed pickle (odd SETITEMS)');
    for (let i = 0; i < kv.length; i += 2) dict.items.set(this.printKey(kv[i]), kv[i + 1]);
  }

  /** The only "calls" a pickle can make: each allowed global rebuilds data, nothing else runs. */
  private call(fn: unknown, args: unknown): unknown {
    if (!(fn instanceof PyGlobal)) this.fail('malformed pickle (REDUCE on a non-callable)');
    if (!Array.isArray(args)) this.fail(`malformed pickle (arguments of ${fn.qualname} are not a tuple)`);
    switch (fn.qualname) {
      case 'collections.OrderedDict': {
        const d = new PyDict();
        if (args.length && Array.isArray(args[0])) {
          for (const kv of args[0]) {
            if (!Array.isArray(kv) || kv.length !== 2) this.fail('malformed OrderedDict arguments');
            d.items.set(this.printKey(kv[0]), kv[1]);
          }
        }
        return d;
      }
      case 'torch._utils._rebuild_tensor':
      case 'torch._utils._rebuild_tensor_v2': {
        const [storage, offset, size, stride] = args;
        if (!(storage instanceof StorageRef)) this.fail(`${fn.name} without a storage`);
        if (!isIntTuple(size) || !isIntTuple(stride) || size.length !== stride.length || typeof offset !== 'number') {
          this.fail(`${fn.name} with invalid size/stride/offset`);
        }
        return new TensorRef(storage, offset, size, stride);
      }
      case 'torch._utils._rebuild_parameter':
      case 'torch._utils._rebuild_parameter_with_state':
        if (!(args[0] instanceof TensorRef)) this.fail(`${fn.name} without a tensor`);
        return args[0];
      case 'torch.device':
        return args.filter((a) => a !== null).map((a) => String(this.printKey(a))).join(':');
      default:
        this.fail(`refusing to call '${fn.qualname}' (only tensors are allowed)`);
    }
  }

  private persistentLoad(pid: unknown): StorageRef {
    // ('storage', <torch.XStorage>, key, location, numel)
    if (!Array.isArray(pid) || pid[0] !== 'storage' || pid.length < 5) this.fail('unsupported persistent id in pickle');
    const [, type, key, , n] = pid;
    if (!(type instanceof PyGlobal) || !(type.name in STORAGE_DTYPE)) this.fail('persistent id without a storage type');
    if (typeof key !== 'string' || !/^[A-Za-z0-9_]+$/.test(key)) this.fail(`invalid storage key ${JSON.stringify(key)}`);
    if (!Number.isSafeInteger(n) || (n as number) < 0) this.fail(`invalid storage size for key ${key}`);
    return new StorageRef(key, STORAGE_DTYPE[type.name], n as number);
  }

  load(): unknown {
    const s = this.stack;
    for (;;) {
      const op = this.u8();
      switch (op) {
        case 0x80: // PROTO
          if (this.u8() > 5) this.fail('unsupported pickle protocol');
          break;
        case 0x95: // FRAME: framing is only a hint for buffered readers
          this.take(8);
          break;
        case 0x2e: // STOP
          if (s.length !== 1) this.fail('malformed pickle (stack not empty at STOP)');
          return s[0];
        case 0x28: // MARK
          this.marks.push(s.length);
          break;
        case 0x30: // POP
          if (this.marks.length && this.marks[this.marks.length - 1] === s.length) this.marks.pop();
          else this.pop();
          break;
        case 0x31: // POP_MARK
          this.popMark();
          break;
        case 0x32: // DUP
          s.push(this.top());
          break;
        case 0x4e: // NONE
          s.push(null);
          break;
        case 0x88: // NEWTRUE
          s.push(true);
          break;
        case 0x89: // NEWFALSE
          s.push(false);
          break;
        case 0x4a: // BININT
          s.push(this.i32());
          break;
        case 0x4b: // BININT1
          s.push(this.u8());
          break;
        case 0x4d: // BININT2
          s.push(this.u16());
          break;
        case 0x49: { // INT (text; I01/I00 are protocol-0 booleans)
          const t = this.line();
          s.push(t === '01' ? true : t === '00' ? false : parseIntText(t, this.failer));
          break;
        }
        case 0x4c: // LONG (text)
          s.push(parseIntText(this.line().replace(/L$/, ''), this.failer));
          break;
        case 0x8a: // LONG1
          s.push(longFromBytes(this.take(this.u8())));
          break;
        case 0x8b: { // LONG4
          const n = this.i32();
          if (n < 0) this.fail('negative LONG4 length');
          s.push(longFromBytes(this.take(n)));
          break;
        }
        case 0x47: { // BINFLOAT (big-endian double)
          const b = this.take(8);
          s.push(new DataView(b.buffer, b.byteOffset, 8).getFloat64(0, false));
          break;
        }
        case 0x46: // FLOAT (text)
          s.push(parseFloat(this.line()));
          break;
        case 0x58: // BINUNICODE
          s.push(this.str(this.u32()));
          break;
        case 0x8c: // SHORT_BINUNICODE
          s.push(this.str(this.u8()));
          break;
        case 0x8d: // BINUNICODE8
          s.push(this.str(this.u64()));
          break;
        case 0x56: // UNICODE (raw-unicode-escape text; torch never writes it, ASCII suffices)
          s.push(this.line());
          break;
        case 0x55: // SHORT_BINSTRING (Python 2 str)
          s.push(Buffer.from(this.take(this.u8())).toString('latin1'));
          break;
        case 0x54: { // BINSTRING
          const n = this.i32();
          if (n < 0) this.fail('negative BINSTRING length');
          s.push(Buffer.from(this.take(n)).toString('latin1'));
          break;
        }
        case 0x43: // SHORT_BINBYTES
          s.push(Uint8Array.from(this.take(this.u8())));
          break;
        case 0x42: // BINBYTES
          s.push(Uint8Array.from(this.take(this.u32())));
          break;
        case 0x8e: // BINBYTES8
        case 0x96: // BYTEARRAY8
          s.push(Uint8Array.from(this.take(this.u64())));
          break;
        case 0x29: // EMPTY_TUPLE
        case 0x5d: // EMPTY_LIST
          s.push([]);
          break;
        case 0x85: // TUPLE1
          s.push([this.pop()]);
          break;
        case 0x86: { // TUPLE2
          const b = this.pop();
          s.push([this.pop(), b]);
          break;
        }
        case 0x87: { // TUPLE3
          const c = this.pop();
          const b = this.pop();
          s.push([this.pop(), b, c]);
          break;
        }
        case 0x74: // TUPLE
        case 0x6c: // LIST
          s.push(this.popMark());
          break;
        case 0x61: { // APPEND
          const v = this.pop();
          const list = this.top();
          if (!Array.isArray(list)) this.fail('malformed pickle (APPEND to a non-list)');
          list.push(v);
          break;
        }
        case 0x65: { // APPENDS
          const items = this.popMark();
          const list = this.top();
          if (!Array.isArray(list)) this.fail('malformed pickle (APPENDS to a non-list)');
          for (const v of items) list.push(v);
          break;
        }
        case 0x7d: // EMPTY_DICT
          s.push(new PyDict());
          break;
        case 0x64: { // DICT
          const d = new PyDict();
          this.setItems(d, this.popMark());
          s.push(d);
          break;
        }
        case 0x73: { // SETITEM
          const v = this.pop();
          const k = this.pop();
          this.setItems(this.top(), [k, v]);
          break;
        }
        case 0x75: { // SETITEMS
          const kv = this.popMark();
          this.setItems(this.top(), kv);
          break;
        }
        case 0x8f: // EMPTY_SET (kept as a list: sets carry no tensors we name)
          s.push([]);
          break;
        case 0x90: { // ADDITEMS
          const items = this.popMark();
          const set = this.top();
          if (!Array.isArray(set)) this.fail('malformed pickle (ADDITEMS to a non-set)');
          for (const v of items) set.push(v); // (spreading a long MARK would overflow the call stack)
          break;
        }
        case 0x91: // FROZENSET
          s.push(this.popMark());
          break;
        case 0x63: { // GLOBAL
          const module = this.line();
          const name = this.line();
          s.push(this.global(module, name));
          break;
        }
        case 0x93: { // STACK_GLOBAL
          const name = this.pop();
          const module = this.pop();
          if (typeof module !== 'string' || typeof name !== 'string') this.fail('malformed pickle (STACK_GLOBAL)');
          s.push(this.global(module, name));
          break;
        }
        case 0x52: { // REDUCE
          const args = this.pop();
          const fn = this.pop();
          s.push(this.call(fn, args));
          break;
        }
        case 0x81: { // NEWOBJ: cls.__new__(cls, *args)
          this.pop(); // OrderedDict.__new__ ignores its arguments
          const cls = this.pop();
          if (!(cls instanceof PyGlobal) || cls.qualname !== 'collections.OrderedDict') {
            this.fail(`refusing to instantiate ${cls instanceof PyGlobal ? `'${cls.qualname}'` : 'an object'} (only tensors are allowed)`);
          }
          s.push(new PyDict());
          break;
        }
        case 0x62: { // BUILD: obj.__setstate__(state)
          this.pop(); // the state
          const obj = this.top();
          // An OrderedDict state_dict carries `_metadata` (module versions) as instance state; tensors may
          // carry Python attributes. Neither affects the values, so the state is dropped.
          if (!(obj instanceof PyDict) && !(obj instanceof TensorRef)) this.fail('refusing BUILD on an object that is not a dict or tensor');
          break;
        }
        case 0x51: // BINPERSID
          s.push(this.persistentLoad(this.pop()));
          break;
        case 0x50: // PERSID (text id: never written by torch's zip format)
          this.fail('unsupported text persistent id (PERSID)');
          break;
        case 0x71: // BINPUT
          this.memoSet(this.u8(), this.top());
          break;
        case 0x72: // LONG_BINPUT
          this.memoSet(this.u32(), this.top());
          break;
        case 0x70: // PUT
          this.memoSet(this.index(this.line()), this.top());
          break;
        case 0x94: // MEMOIZE
          this.memoSet(this.memo.size, this.top());
          break;
        case 0x68: // BINGET
          s.push(this.get(this.u8()));
          break;
        case 0x6a: // LONG_BINGET
          s.push(this.get(this.u32()));
          break;
        case 0x67: // GET
          s.push(this.get(this.index(this.line())));
          break;
        case 0x69: // INST
        case 0x6f: // OBJ
        case 0x92: // NEWOBJ_EX
          this.fail(`refusing to instantiate objects (opcode ${opName(op)}; only tensors are allowed)`);
          break;
        case 0x82: // EXT1
        case 0x83: // EXT2
        case 0x84: // EXT4
          this.fail('refusing extension-registry globals (EXT opcodes; only tensors are allowed)');
          break;
        default:
          this.fail(`unsupported pickle opcode ${opName(op)} at byte ${this.pos - 1}`);
      }
    }
  }
}
