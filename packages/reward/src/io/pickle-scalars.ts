// Scalars and dict keys as the restricted unpickler (unpickler.ts) reads them, each with the bound that keeps a
// hostile pickle from costing more than a small file should: Python's int-digit limit, a printed-key budget.

export function opName(op: number): string {
  return `0x${op.toString(16).padStart(2, '0')}`;
}

/** Python refuses int text over 4300 digits by default (sys.int_info.default_max_str_digits); so do we. */
const MAX_INT_DIGITS = 4300;

export function parseIntText(t: string, fail: (msg: string) => never): number | bigint {
  if (!/^[+-]?\d+$/.test(t)) fail(`invalid integer '${t.length > 40 ? `${t.slice(0, 40)}…` : t}' in pickle`);
  if (t.length > MAX_INT_DIGITS + 1) fail(`integer of ${t.length} digits in pickle (over Python's ${MAX_INT_DIGITS})`);
  const v = BigInt(t);
  return v >= BigInt(Number.MIN_SAFE_INTEGER) && v <= BigInt(Number.MAX_SAFE_INTEGER) ? Number(v) : v;
}

/** Little-endian two's-complement integer (LONG1/LONG4), in linear time: one hex parse, not a shift per byte. */
export function longFromBytes(b: Uint8Array): number | bigint {
  if (b.length === 0) return 0;
  let v = BigInt(`0x${Buffer.from(b).reverse().toString('hex')}`);
  if (b[b.length - 1] & 0x80) v -= 1n << BigInt(8 * b.length);
  return v >= BigInt(Number.MIN_SAFE_INTEGER) && v <= BigInt(Number.MAX_SAFE_INTEGER) ? Number(v) : v;
}

/** Longest printed dict key: state_dict keys are short names; a nested tuple key can print to GBs. */
const MAX_KEY_CHARS = 4096;

/**
 * A dict key as a JS Map key: primitives as they are; tuples (arrays), which a Map would key by identity,
 * by their printed form — built against a character budget, so a "billion laughs" tuple (each level
 * referencing the previous one twice through the memo) is refused in microseconds instead of printed.
 */
export function dictKey(k: unknown, fail: (msg: string) => never): unknown {
  if (k === null || typeof k !== 'object') return k;
  const parts: string[] = [];
  let budget = MAX_KEY_CHARS;
  const emit = (s: string) => {
    budget -= s.length;
    if (budget < 0) fail(`dict key longer than ${MAX_KEY_CHARS} characters`);
    parts.push(s);
  };
  const print = (x: unknown, depth: number): void => {
    if (depth > 32) fail('dict key nests more than 32 levels');
    if (Array.isArray(x)) {
      emit('(');
      x.forEach((y, i) => {
        if (i) emit(', ');
        print(y, depth + 1);
      });
      emit(')');
    } else if (x instanceof Uint8Array) {
      emit(`b'${Buffer.from(x.subarray(0, MAX_KEY_CHARS)).toString('latin1')}'`);
    } else if (x !== null && typeof x === 'object') {
      emit(`<${x.constructor?.name ?? 'object'}>`);
    } else {
      emit(String(x));
    }
  };
  print(k, 0);
  return parts.join('');
}

export function isIntTuple(x: unknown): x is number[] {
  return Array.isArray(x) && x.every((v) => Number.isSafeInteger(v) && v >= 0);
}
