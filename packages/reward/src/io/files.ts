import * as fs from 'fs';
import { FileFormatError, UserError } from '../errors';
import { Limits, checkLimit, getLimits } from './limits';

/*
 * Opening input files safely. A FIFO named `x.png` blocks a read forever, and /dev/zero (or a symlink to
 * it) never ends; both are refused by their type, from an fstat of a descriptor opened non-blocking (so
 * opening a FIFO without a writer returns at once), before anything is read.
 */

const KIND: Array<[keyof fs.Stats, string]> = [
  ['isDirectory', 'a directory'],
  ['isFIFO', 'a FIFO (named pipe)'],
  ['isCharacterDevice', 'a character device'],
  ['isBlockDevice', 'a block device'],
  ['isSocket', 'a socket'],
];

/** Why `st` is not a regular file ("a FIFO (named pipe)"), or undefined when it is one. */
export function specialKind(st: fs.Stats): string | undefined {
  if (st.isFile()) return undefined;
  for (const [test, name] of KIND) if ((st[test] as () => boolean).call(st)) return name;
  return 'not a regular file';
}

function openError(file: string, e: unknown, what: string): UserError {
  const code = (e as NodeJS.ErrnoException).code;
  if (code === 'ENOENT') return new FileFormatError(file, 'no such file');
  if (code === 'EISDIR') return new FileFormatError(file, `is a directory, not ${what}`);
  if (code === 'EACCES' || code === 'EPERM') return new FileFormatError(file, `permission denied (cannot read ${what})`);
  return new FileFormatError(file, `cannot read ${what} (${code ?? (e as Error).message})`);
}

function specialError(file: string, kind: string, what: string): FileFormatError {
  return new FileFormatError(file, kind === 'a directory' ? `is a directory, not ${what}` : `is ${kind}, not ${what}; only regular files are read`);
}

/** Opens `file` for reading, refusing anything but a regular file; the caller closes the descriptor. */
export function openRegular(file: string, what = 'the file'): { fd: number; size: number } {
  let fd: number;
  try {
    fd = fs.openSync(file, fs.constants.O_RDONLY | fs.constants.O_NONBLOCK);
  } catch (e) {
    throw openError(file, e, what);
  }
  try {
    const st = fs.fstatSync(fd);
    const kind = specialKind(st);
    if (kind) throw specialError(file, kind, what);
    return { fd, size: st.size };
  } catch (e) {
    fs.closeSync(fd);
    throw e;
  }
}

/** As openRegular, as a FileHandle (async readers). */
export async function openRegularAsync(file: string, what = 'the file'): Promise<{ fh: fs.promises.FileHandle; size: number }> {
  let fh: fs.promises.FileHandle;
  try {
    fh = await fs.promises.open(file, fs.constants.O_RDONLY | fs.constants.O_NONBLOCK);
  } catch (e) {
    throw openError(file, e, what);
  }
  try {
    const st = await fh.stat();
    const kind = specialKind(st);
    if (kind) throw specialError(file, kind, what);
    return { fh, size: st.size };
  } catch (e) {
    await fh.close();
    throw e;
  }
}

/** A regular file's bytes, refused over `maxBytes` of limit `key` before reading. */
export function readRegularFile(file: string, what: string, key: keyof Limits = 'maxJsonBytes', limits: Readonly<Limits> = getLimits()): Buffer {
  const { fd, size } = openRegular(file, what);
  try {
    checkLimit(file, `the size of this ${what}`, size, key, limits);
    const buf = Buffer.allocUnsafe(size);
    let got = 0;
    while (got < size) {
      const n = fs.readSync(fd, buf, got, size - got, got);
      if (n <= 0) break;
      got += n;
    }
    return got === size ? buf : buf.subarray(0, got);
  } finally {
    fs.closeSync(fd);
  }
}

/** A regular text file (UTF-8), as readRegularFile. */
export function readRegularText(file: string, what: string, key: keyof Limits = 'maxJsonBytes', limits?: Readonly<Limits>): string {
  return readRegularFile(file, what, key, limits).toString('utf8');
}

/** Async readRegularFile (images: the event loop stays free while other decodes run). */
export async function readRegularFileAsync(file: string, what: string, key: keyof Limits, limits: Readonly<Limits> = getLimits()): Promise<Buffer> {
  const { fh, size } = await openRegularAsync(file, what);
  try {
    checkLimit(file, `the size of this ${what}`, size, key, limits);
    const buf = Buffer.allocUnsafe(size);
    let got = 0;
    while (got < size) {
      const { bytesRead } = await fh.read(buf, got, size - got, got);
      if (bytesRead <= 0) break;
      got += bytesRead;
    }
    return got === size ? buf : buf.subarray(0, got);
  } finally {
    await fh.close();
  }
}
