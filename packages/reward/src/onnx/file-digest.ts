import * as crypto from 'crypto';
import * as fs from 'fs';
import * as path from 'path';
import { writeFileAtomic } from '../util/atomic';

/*
 * Content digests (sha256) of checkpoint files, for cache keys that follow what a checkpoint holds, not
 * where it lies or when it was touched. Hashing reads every byte (about 1 GB/s here), so each digest is
 * remembered beside the cache with the file's identity when it was read — device, inode, size, mtime
 * and ctime — and read again only when one of those changed. ctime is part of it because no tool can
 * set it: an edit in place that restores the old mtime (cp -p, rsync -t, a re-save within the mtime
 * granularity of a coarse file system, which for safetensors of one architecture has the same size too)
 * still moves ctime, and a rewrite by rename changes the inode.
 *
 * Files in a Hugging Face hub cache need no hashing: their snapshot entries link to
 * `blobs/<sha256 of the content>` for LFS files (the hub's own convention), and that name is the digest.
 */

/** What identifies one version of a file without reading it. */
interface Identity {
  dev: number;
  ino: number;
  size: number;
  mtimeMs: number;
  ctimeMs: number;
}

interface MemoEntry extends Identity {
  file: string;
  sha256: string;
}

function identityOf(st: fs.Stats): Identity {
  return { dev: st.dev, ino: st.ino, size: st.size, mtimeMs: st.mtimeMs, ctimeMs: st.ctimeMs };
}

const sameIdentity = (a: Identity, b: Identity) =>
  a.dev === b.dev && a.ino === b.ino && a.size === b.size && a.mtimeMs === b.mtimeMs && a.ctimeMs === b.ctimeMs;

/** The sha256 a hub-cache blob is named by, when `file` resolves to one. */
export function hubBlobDigest(file: string): string | undefined {
  let real: string;
  try {
    real = fs.realpathSync(file);
  } catch {
    return undefined;
  }
  const name = path.basename(real);
  return path.basename(path.dirname(real)) === 'blobs' && /^[0-9a-f]{64}$/.test(name) ? name : undefined;
}

/** sha256 of a file's bytes, read in 8 MiB pieces (the file may be larger than a Buffer can hold). */
export function sha256File(file: string): string {
  const h = crypto.createHash('sha256');
  const fd = fs.openSync(file, 'r');
  try {
    const buf = Buffer.allocUnsafe(8 << 20);
    for (;;) {
      const n = fs.readSync(fd, buf, 0, buf.length, null);
      if (n === 0) break;
      h.update(buf.subarray(0, n));
    }
  } finally {
    fs.closeSync(fd);
  }
  return h.digest('hex');
}

export interface DigestStats {
  /** Files whose bytes were hashed by this call (the rest came from the memo or the hub cache's names). */
  hashed: number;
  hashedBytes: number;
}

/**
 * sha256 of `file`'s content: the hub blob's name, the remembered digest when the file's identity is
 * unchanged, else hashed now (and remembered in `memoDir`, when given).
 */
export function fileDigest(file: string, memoDir?: string, stats?: DigestStats): string {
  const blob = hubBlobDigest(file);
  if (blob) return blob;
  const abs = path.resolve(file);
  const st = fs.statSync(abs);
  const memo = memoDir ? path.join(memoDir, `${crypto.createHash('sha256').update(abs).digest('hex').slice(0, 32)}.json`) : undefined;
  if (memo && fs.existsSync(memo)) {
    try {
      const m = JSON.parse(fs.readFileSync(memo, 'utf8')) as MemoEntry;
      if (m.file === abs && sameIdentity(m, identityOf(st)) && /^[0-9a-f]{64}$/.test(m.sha256)) return m.sha256;
    } catch {
      // An unreadable memo is only a lost shortcut: hash again below and rewrite it.
    }
  }
  const sha256 = sha256File(abs);
  if (stats) {
    stats.hashed++;
    stats.hashedBytes += st.size;
  }
  // Remember the identity seen before reading: a write during the read then fails the next check.
  if (memo) writeFileAtomic(memo, JSON.stringify({ file: abs, ...identityOf(st), sha256 } satisfies MemoEntry) + '\n');
  return sha256;
}
