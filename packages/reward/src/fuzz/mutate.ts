import fc from 'fast-check';
import type { Files } from './encode';

/*
 * Mutations of valid inputs: byte-level (flips, interesting integers written over length and offset fields,
 * truncation, deletion, insertion, duplication — the AFL family) and, for JSON files, structural (a value
 * anywhere in the tree replaced by an interesting one, or removed). Positions are drawn as naturals and
 * taken modulo the file's length when applied, so one arbitrary fits every file.
 */

export type ByteOp =
  | { op: 'flip'; at: number; bit: number }
  | { op: 'set'; at: number; v: number }
  | { op: 'int'; at: number; width: 2 | 4 | 8; v: bigint }
  | { op: 'truncate'; at: number }
  | { op: 'delete'; at: number; len: number }
  | { op: 'insert'; at: number; bytes: Uint8Array }
  | { op: 'dup'; at: number; len: number; to: number };

export type Mutation =
  | { kind: 'none' }
  | { kind: 'bytes'; file: number; ops: ByteOp[] }
  | { kind: 'json'; file: number; target: number; value: unknown; remove: boolean }
  | { kind: 'delete-file'; file: number };

const INTERESTING: bigint[] = [
  0n, 1n, 0x7fn, 0x80n, 0xffn, 0x7fffn, 0x8000n, 0xffffn, 0x7ffffffcn, 0x7fffffffn, 0x80000000n, 0xffffffffn,
  0x100000000n, 2n ** 40n, 2n ** 53n, 2n ** 63n, 2n ** 64n - 1n,
];

const deep = (n: number) => JSON.parse('['.repeat(n) + ']'.repeat(n)) as unknown;

/** Values a hostile JSON file puts where a size, a name or a list is expected. */
export const INTERESTING_JSON: unknown[] = [
  -1, 0, 1, 2, 3, 7, 1.5, -0.5, 2e9, 2 ** 31, 2 ** 32, 2 ** 53, -(2 ** 31), 1e308, 1e-300,
  '', 'x', '../../etc/passwd', '/dev/zero', 'a'.repeat(5000), [], [0], [0, 0, 0], [-1, -1, -1], [2e9, 2e9, 2e9],
  {}, null, true, false, { a: 1 }, deep(200),
];

const byteOp: fc.Arbitrary<ByteOp> = fc.oneof(
  { weight: 4, arbitrary: fc.record({ op: fc.constant('flip' as const), at: fc.nat(), bit: fc.integer({ min: 0, max: 7 }) }) },
  { weight: 2, arbitrary: fc.record({ op: fc.constant('set' as const), at: fc.nat(), v: fc.constantFrom(0, 1, 0x7f, 0x80, 0xff, 0x20, 0x22, 0x5b, 0x7b) }) },
  {
    weight: 3,
    arbitrary: fc.record({
      op: fc.constant('int' as const),
      at: fc.nat(),
      width: fc.constantFrom(2 as const, 4 as const, 8 as const),
      v: fc.oneof(fc.constantFrom(...INTERESTING), fc.bigInt({ min: 0n, max: 2n ** 64n - 1n })),
    }),
  },
  { weight: 1, arbitrary: fc.record({ op: fc.constant('truncate' as const), at: fc.nat() }) },
  { weight: 1, arbitrary: fc.record({ op: fc.constant('delete' as const), at: fc.nat(), len: fc.integer({ min: 1, max: 64 }) }) },
  { weight: 1, arbitrary: fc.record({ op: fc.constant('insert' as const), at: fc.nat(), bytes: fc.uint8Array({ minLength: 1, maxLength: 16 }) }) },
  { weight: 1, arbitrary: fc.record({ op: fc.constant('dup' as const), at: fc.nat(), len: fc.integer({ min: 1, max: 256 }), to: fc.nat() }) },
);

/** A mutation, or none in about one case in eight (the valid input must then be accepted as generated). */
export function mutationArb(opts: { json: boolean; files: number }): fc.Arbitrary<Mutation> {
  const file = fc.integer({ min: 0, max: Math.max(0, opts.files - 1) });
  const arbs: Array<{ weight: number; arbitrary: fc.Arbitrary<Mutation> }> = [
    { weight: 2, arbitrary: fc.constant({ kind: 'none' as const }) },
    { weight: opts.json ? 6 : 14, arbitrary: fc.record({ kind: fc.constant('bytes' as const), file, ops: fc.array(byteOp, { minLength: 1, maxLength: 3 }) }) },
  ];
  if (opts.json) {
    arbs.push({
      weight: 8,
      arbitrary: fc.record({
        kind: fc.constant('json' as const),
        file,
        target: fc.nat(),
        value: fc.oneof(fc.constantFrom(...INTERESTING_JSON), fc.integer(), fc.double(), fc.string({ maxLength: 20 })),
        remove: fc.boolean(),
      }),
    });
  }
  if (opts.files > 1) arbs.push({ weight: 1, arbitrary: fc.record({ kind: fc.constant('delete-file' as const), file }) });
  return fc.oneof(...arbs);
}

function applyByteOp(b: Uint8Array, o: ByteOp): Uint8Array {
  const n = b.length;
  if (n === 0) return o.op === 'insert' ? o.bytes : b;
  const at = o.at % n;
  const out = Buffer.from(b);
  switch (o.op) {
    case 'flip':
      out[at] ^= 1 << o.bit;
      return out;
    case 'set':
      out[at] = o.v;
      return out;
    case 'int': {
      const w = Buffer.alloc(8);
      w.writeBigUInt64LE(BigInt.asUintN(64, o.v));
      w.copy(out, at, 0, Math.min(o.width, n - at));
      return out;
    }
    case 'truncate':
      return out.subarray(0, at);
    case 'delete':
      return Buffer.concat([out.subarray(0, at), out.subarray(at + o.len)]);
    case 'insert':
      return Buffer.concat([out.subarray(0, at), Buffer.from(o.bytes), out.subarray(at)]);
    case 'dup': {
      const to = o.to % n;
      return Buffer.concat([out.subarray(0, to), out.subarray(at, at + o.len), out.subarray(to)]);
    }
  }
}

/** Every (container, key) of a JSON tree, depth first. */
function slots(root: unknown): Array<[Record<string, unknown> | unknown[], string | number]> {
  const out: Array<[Record<string, unknown> | unknown[], string | number]> = [];
  const stack: unknown[] = [root];
  while (stack.length && out.length < 100_000) {
    const v = stack.pop();
    if (Array.isArray(v)) v.forEach((x, i) => (out.push([v, i]), stack.push(x)));
    else if (v && typeof v === 'object') for (const [k, x] of Object.entries(v)) out.push([v as Record<string, unknown>, k]), stack.push(x);
  }
  return out;
}

function mutateJsonText(text: string, m: Extract<Mutation, { kind: 'json' }>): string | undefined {
  const lines = text.split('\n');
  const jsonl = lines.length > 1 && lines.filter((l) => l.trim()).every((l) => l.trim().startsWith('{')) && !text.trim().startsWith('{\n');
  const edit = (t: string): string | undefined => {
    let root: unknown;
    try {
      root = JSON.parse(t);
    } catch {
      return undefined;
    }
    const all = slots(root);
    if (all.length === 0) return undefined;
    const [parent, key] = all[m.target % all.length];
    if (m.remove && !Array.isArray(parent)) delete (parent as Record<string, unknown>)[key as string];
    else (parent as Record<string | number, unknown>)[key] = m.value;
    return JSON.stringify(root);
  };
  if (!jsonl) return edit(text);
  const idx = lines.map((l, i) => [l, i] as const).filter(([l]) => l.trim());
  if (!idx.length) return undefined;
  const [line, i] = idx[m.target % idx.length];
  const changed = edit(line);
  if (changed === undefined) return undefined;
  lines[i] = changed;
  return lines.join('\n');
}

/** The files after the mutation, and which file changed ('' for none). */
export function applyMutation(files: Files, m: Mutation): { files: Files; changed: string } {
  const names = Object.keys(files);
  if (m.kind === 'none' || names.length === 0) return { files, changed: '' };
  const name = names[m.file % names.length];
  const out = { ...files };
  if (m.kind === 'delete-file') {
    delete out[name];
    return { files: out, changed: name };
  }
  if (m.kind === 'json') {
    const text = mutateJsonText(Buffer.from(files[name]).toString('utf8'), m);
    if (text !== undefined) {
      out[name] = new Uint8Array(Buffer.from(text, 'utf8'));
      return { files: out, changed: name };
    }
    return { files: out, changed: '' };
  }
  let b = files[name];
  for (const o of m.ops) b = applyByteOp(b, o);
  out[name] = new Uint8Array(b);
  return { files: out, changed: Buffer.from(b).equals(Buffer.from(files[name])) ? '' : name };
}
