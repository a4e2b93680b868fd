import { zipSync } from 'fflate';

/*
 * Thirty classes of malicious pickle (code execution through globals, object construction opcodes, the
 * extension registry, persistent ids escaping the archive, state injection), each in a torch zip. The
 * restricted unpickler (io/unpickler.ts) must refuse every one; the fuzz test keeps them as regression
 * cases. Bytes are written opcode by opcode, as an attacker would.
 */

const b = (...parts: Array<number | string | Uint8Array>): Uint8Array =>
  new Uint8Array(Buffer.concat(parts.map((p) => (typeof p === 'number' ? Buffer.from([p]) : typeof p === 'string' ? Buffer.from(p, 'latin1') : Buffer.from(p)))));
const u32 = (n: number) => {
  const x = Buffer.alloc(4);
  x.writeUInt32LE(n);
  return x;
};
const str = (s: string) => b('X', u32(Buffer.byteLength(s)), Buffer.from(s, 'utf8'));
const sbu = (s: string) => b(0x8c, s.length, s);
const GLOBAL = (mod: string, name: string) => b('c', `${mod}\n${name}\n`);
const P2 = b(0x80, 2);
const call = (mod: string, name: string, arg = 'id') => b(P2, '}', str('w'), GLOBAL(mod, name), str(arg), 0x85, 'R', 's', '.');
const storagePid = (key: string) =>
  b(P2, '}', str('w'), GLOBAL('torch._utils', '_rebuild_tensor_v2'), '(', '(', str('storage'), GLOBAL('torch', 'FloatStorage'), str(key), str('cpu'), 'K', 4, 't', 'Q',
    'K', 0, '(', 'K', 4, 't', '(', 'K', 1, 't', 0x89, GLOBAL('collections', 'OrderedDict'), ')', 'R', 't', 'R', 's', '.');

export const MALICIOUS_PICKLES: Array<{ name: string; pickle: Uint8Array }> = [
  { name: 'os.system', pickle: call('os', 'system', 'echo pwned') },
  { name: 'posix.system', pickle: call('posix', 'system', 'echo pwned') },
  { name: 'nt.system', pickle: call('nt', 'system', 'calc') },
  { name: 'subprocess.Popen', pickle: call('subprocess', 'Popen', 'sh') },
  { name: 'subprocess.check_output', pickle: call('subprocess', 'check_output', 'id') },
  { name: 'builtins.exec', pickle: call('builtins', 'exec', 'import os') },
  { name: 'builtins.eval', pickle: call('builtins', 'eval', '1+1') },
  { name: 'builtins.getattr', pickle: call('builtins', 'getattr', 'x') },
  { name: 'builtins.__import__', pickle: call('builtins', '__import__', 'os') },
  { name: 'builtins.open', pickle: call('builtins', 'open', '/etc/passwd') },
  { name: '__builtin__.eval (Python 2)', pickle: call('__builtin__', 'eval', '1') },
  { name: 'torch.load', pickle: call('torch', 'load', 'evil.pt') },
  { name: 'torch.storage._load_from_bytes', pickle: call('torch.storage', '_load_from_bytes', 'x') },
  { name: 'numpy.core.multiarray._reconstruct', pickle: call('numpy.core.multiarray', '_reconstruct', 'x') },
  { name: 'numpy.core.multiarray.scalar', pickle: call('numpy.core.multiarray', 'scalar', 'x') },
  { name: 'STACK_GLOBAL builtins.eval (protocol 4)', pickle: b(0x80, 4, 0x95, Buffer.alloc(8), sbu('builtins'), 0x94, sbu('eval'), 0x94, 0x93, sbu('1+1'), 0x85, 'R', '.') },
  { name: 'STACK_GLOBAL os.system', pickle: b(0x80, 4, sbu('os'), sbu('system'), 0x93, sbu('id'), 0x85, 'R', '.') },
  { name: 'INST os.system', pickle: b(P2, '(', str('id'), 'i', 'os\nsystem\n', '.') },
  { name: 'OBJ with a global class', pickle: b(P2, '(', GLOBAL('collections', 'OrderedDict'), 'o', '.') },
  { name: 'NEWOBJ of an unknown class', pickle: b(P2, GLOBAL('__main__', 'Evil'), ')', 0x81, '.') },
  { name: 'NEWOBJ_EX', pickle: b(P2, GLOBAL('collections', 'OrderedDict'), ')', '}', 0x92, '.') },
  { name: 'EXT1 (extension registry)', pickle: b(P2, 0x82, 1, '.') },
  { name: 'EXT2', pickle: b(P2, 0x83, 1, 0, '.') },
  { name: 'EXT4', pickle: b(P2, 0x84, 1, 0, 0, 0, '.') },
  { name: "storage key '../../etc/passwd'", pickle: storagePid('../../etc/passwd') },
  { name: "storage key '/etc/passwd'", pickle: storagePid('/etc/passwd') },
  { name: 'text persistent id (PERSID)', pickle: b(P2, 'P', '../../etc/passwd\n', '.') },
  { name: 'copyreg._reconstructor', pickle: call('copyreg', '_reconstructor', 'x') },
  { name: 'functools.partial', pickle: call('functools', 'partial', 'x') },
  { name: 'BUILD (__setstate__) on a class', pickle: b(P2, GLOBAL('collections', 'OrderedDict'), '}', str('__reduce__'), str('x'), 's', 'b', '.') },
];

/** A torch zip around a pickle (and one real storage, so only the pickle can fail). */
export function maliciousZip(pickle: Uint8Array): Uint8Array {
  return zipSync({
    'archive/data.pkl': [pickle, { level: 0 }],
    'archive/data/0': [new Uint8Array(new Float32Array([1, 2, 3, 4]).buffer), { level: 0 }],
    'archive/version': [new Uint8Array(Buffer.from('3\n')), { level: 0 }],
  });
}
