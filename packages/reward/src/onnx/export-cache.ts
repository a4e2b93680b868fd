import { ChildProcess, fork } from 'child_process';
import * as crypto from 'crypto';
import * as fs from 'fs';
import * as os from 'os';
import * as path from 'path';
import { UserError } from '../errors';
import { DigestStats, fileDigest } from './file-digest';
import { ExportLock, ownerAlive, readOwner } from './export-lock';
import { ExportJob, WorkerMessage, runExportJob } from './export-worker';
import { manifestPath } from './manifest';

/*
 * ONNX exports of checkpoints, kept in a cache folder so that opening a checkpoint on the onnxruntime
 * engine exports it once.
 *
 * Key: a hash over what the export is made of — the content (sha256) of each checkpoint file under its
 * name relative to the checkpoint, the export format, the package version and int8 or not. Content,
 * not paths and mtimes: a checkpoint edited in place gets a new entry even when its size and mtime are
 * unchanged (a re-save of one architecture has the same size; cp -p and rsync -t restore mtimes), and a
 * copied, moved or touched checkpoint reuses its export. Hashing is paid once per file version
 * (file-digest.ts remembers digests by device, inode, size, mtime and ctime; hub-cache blobs are named
 * by their sha256 already), so a warm lookup only stats the files.
 *
 * Writing: an export is written into `.tmp-<key>-<pid>-<since>` inside the cache by a child process
 * (export-worker.ts: the paper preset's export peaks at several GB, which then never enters the
 * scoring process), and renamed into place whole; a folder under its final name always holds a
 * complete export. One process exports a key at a time (export-lock.ts); others wait for its result.
 * Temporary folders and locks of exporters that died are removed by the next lookup that finds them.
 */

/** Bump when the graphs an export writes change, so older cache entries are not reused. */
const EXPORT_FORMAT = 2;

/** Where exports are cached: RAHF_CACHE_DIR, else $XDG_CACHE_HOME/richhf/onnx, else ~/.cache/richhf/onnx. */
export function defaultExportCacheDir(): string {
  if (process.env.RAHF_CACHE_DIR) return process.env.RAHF_CACHE_DIR;
  const base = process.env.XDG_CACHE_HOME || path.join(os.homedir(), '.cache');
  return path.join(base, 'richhf', 'onnx');
}

export interface ExportCacheOptions {
  /** Cache folder (default {@link defaultExportCacheDir}). */
  cacheDir?: string;
  /** Dynamically int8-quantised graphs (a separate entry). */
  int8?: boolean;
  /** Progress lines while exporting or waiting for another process's export. */
  log?: (line: string) => void;
  /**
   * Where the export runs: 'child' (default) — a child process, so its memory is returned when it
   * ends; 'inline' — this process (also the fallback where the worker file cannot be found, e.g.
   * bundled code).
   */
  exportIn?: 'child' | 'inline';
  /** How often a process waiting for another one's export looks again, ms (default 500). */
  pollMs?: number;
}

/** Regular files below `dir` (two levels: youweiliang folders keep `vit/` and `t5/` configs inside), sorted. */
function filesBelow(dir: string, depth = 2): string[] {
  const out: string[] = [];
  for (const e of fs.readdirSync(dir, { withFileTypes: true })) {
    if (e.name.startsWith('.')) continue;
    const p = path.join(dir, e.name);
    const st = fs.statSync(p, { throwIfNoEntry: false }); // follows the hub cache's links
    if (st?.isFile()) out.push(p);
    else if (st?.isDirectory() && depth > 0) out.push(...filesBelow(p, depth - 1));
  }
  return out.sort();
}

/**
 * The files an export of `checkpoint` is made of, each under a name that does not depend on where the
 * checkpoint lies: a folder's files (relative paths), or a weights file with the config and tokenizer
 * beside it, plus the tower folders a config.json names outside the checkpoint (`vit:…`, `t5:…`).
 */
export function checkpointFiles(checkpoint: string): { name: string; file: string }[] {
  const ref = path.resolve(checkpoint);
  const st = fs.statSync(ref, { throwIfNoEntry: false });
  if (!st) throw new UserError(`${checkpoint}: no such file or directory`);
  const dir = st.isFile() ? path.dirname(ref) : ref;
  const files = st.isFile() ? [ref, ...['config.json', 'tokenizer.json'].map((f) => path.join(dir, f)).filter((f) => fs.existsSync(f))] : filesBelow(dir);
  const out = files.map((file) => ({ name: path.relative(dir, file).split(path.sep).join('/'), file }));
  const cfg = path.join(dir, 'config.json');
  if (!st.isFile() && fs.existsSync(cfg)) {
    let json: Record<string, unknown> = {};
    try {
      json = JSON.parse(fs.readFileSync(cfg, 'utf8')) as Record<string, unknown>;
    } catch {
      // Not JSON: the export reports it with the file's name; the key needs only the bytes.
    }
    for (const k of ['vit', 't5']) {
      const sub = typeof json[k] === 'string' ? path.resolve(dir, json[k] as string) : undefined;
      if (sub && !sub.startsWith(dir + path.sep) && fs.existsSync(sub) && fs.statSync(sub).isDirectory()) {
        for (const file of filesBelow(sub, 0)) out.push({ name: `${k}:${path.basename(file)}`, file });
      }
    }
  }
  return out;
}

/**
 * The cache key of a checkpoint (folder, or weights file and the files beside it): see the header.
 * `cacheDir` is where file digests are remembered (none: every file is hashed).
 */
export function checkpointKey(checkpoint: string, opts: { int8?: boolean; cacheDir?: string; stats?: DigestStats } = {}): string {
  const memo = opts.cacheDir ? path.join(path.resolve(opts.cacheDir), '.digests') : undefined;
  const h = crypto.createHash('sha256');
  h.update(JSON.stringify({ format: EXPORT_FORMAT, version: packageVersion(), int8: Boolean(opts.int8) }));
  for (const { name, file } of checkpointFiles(checkpoint)) h.update(`\n${name}\t${fileDigest(file, memo, opts.stats)}`);
  return `${h.digest('hex').slice(0, 24)}${opts.int8 ? '-int8' : ''}`;
}

let version: string | undefined;
function packageVersion(): string {
  version ??= (JSON.parse(fs.readFileSync(path.resolve(__dirname, '..', '..', 'package.json'), 'utf8')) as { version: string }).version;
  return version;
}

const complete = (entry: string) => fs.existsSync(manifestPath(path.join(entry, 'model.onnx')));
const lockFileOf = (root: string, key: string) => path.join(root, `.lock-${key}`);
const TMP_RE = /^\.tmp-(.+)-(\d+)-(\d+)$/;

/**
 * Remove what dead exporters left in the cache: temporary folders whose lock is not held by the
 * process that made them, and locks whose owner is gone.
 */
export function sweepExportCache(root: string): string[] {
  const removed: string[] = [];
  if (!fs.existsSync(root)) return removed;
  for (const name of fs.readdirSync(root)) {
    const p = path.join(root, name);
    const tmp = TMP_RE.exec(name);
    if (tmp) {
      const seen = readOwner(lockFileOf(root, tmp[1]));
      const mine = seen?.owner && String(seen.owner.pid) === tmp[2] && String(seen.owner.since) === tmp[3];
      if (!(seen && mine && ownerAlive(seen.owner, seen.mtimeMs))) {
        fs.rmSync(p, { recursive: true, force: true });
        removed.push(name);
      }
    } else if (name.startsWith('.tmp-')) {
      // A temporary folder of the first cache layout (no owner in its name): dead unless its key is locked.
      const key = name.slice(5, name.lastIndexOf('-'));
      const seen = readOwner(lockFileOf(root, key));
      if (!(seen && ownerAlive(seen.owner, seen.mtimeMs))) {
        fs.rmSync(p, { recursive: true, force: true });
        removed.push(name);
      }
    } else if (name.startsWith('.lock-')) {
      const seen = readOwner(p);
      if (seen && !ownerAlive(seen.owner, seen.mtimeMs)) {
        fs.rmSync(p, { force: true });
        removed.push(name);
      }
    }
  }
  return removed;
}

/** The worker to fork: the compiled .js beside this file, or the .ts source through esbuild (tests). */
function workerCommand(): { file: string; execArgv: string[] } | undefined {
  const ext = path.extname(__filename);
  const file = path.join(__dirname, `export-worker${ext}`);
  if (!fs.existsSync(file)) return undefined;
  return { file, execArgv: ext === '.ts' ? ['-r', path.join(__dirname, '..', 'testing', 'ts-require.js')] : [] };
}

/** Run one export job in a child process; resolves when it wrote everything, rejects with its error. */
function exportInChild(worker: { file: string; execArgv: string[] }, job: ExportJob, onMessage: (m: WorkerMessage) => void): Promise<void> {
  return new Promise((resolve, reject) => {
    const child: ChildProcess = fork(worker.file, [JSON.stringify(job)], { execArgv: worker.execArgv, stdio: ['ignore', 'ignore', 'pipe', 'ipc'] });
    let stderr = '';
    child.stderr!.on('data', (d: Buffer) => (stderr = (stderr + d.toString('utf8')).slice(-4000)));
    let result: WorkerMessage | undefined;
    child.on('message', (m: WorkerMessage) => {
      if (m.type === 'done' || m.type === 'error') result = m;
      else onMessage(m);
    });
    child.on('error', reject);
    child.on('exit', (code, signal) => {
      if (result?.type === 'done' && code === 0) return resolve();
      if (result?.type === 'error') {
        const e = result.user ? new UserError(result.message, result.exitCode) : new Error(result.message);
        if (!result.user && result.stack) e.stack = result.stack;
        return reject(e);
      }
      const last = stderr.trim().split('\n').filter(Boolean).pop();
      reject(new Error(`export of ${job.checkpoint}: the export process ended with ${signal ?? `exit code ${code}`}${last ? ` (${last.trim()})` : ''}`));
    });
  });
}

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

/**
 * The folder of the checkpoint's ONNX export (scores, heatmaps and keyword-decoder graphs, tokenizer,
 * manifest), exported on first use. `checkpoint` is a local folder or weights file (resolve hub ids
 * first).
 */
export async function cachedExport(checkpoint: string, opts: ExportCacheOptions = {}): Promise<string> {
  const root = path.resolve(opts.cacheDir ?? defaultExportCacheDir());
  const log = opts.log ?? (() => undefined);
  fs.mkdirSync(root, { recursive: true });
  const stats: DigestStats = { hashed: 0, hashedBytes: 0 };
  const t0 = Date.now();
  const key = checkpointKey(checkpoint, { int8: opts.int8, cacheDir: root, stats });
  const hashS = (Date.now() - t0) / 1000;
  // Said only when it was slow enough to notice (a large checkpoint seen for the first time, or changed).
  if (hashS >= 1) log(`hashed ${stats.hashed} checkpoint file(s), ${(stats.hashedBytes / 2 ** 20).toFixed(0)} MiB, in ${hashS.toFixed(1)} s (once per file version)`);
  const final = path.join(root, key);
  if (complete(final)) return final;
  sweepExportCache(root);
  const lockFile = lockFileOf(root, key);
  let waiting = false;
  for (;;) {
    if (complete(final)) return final;
    const lock = ExportLock.tryAcquire(lockFile);
    if (!lock) {
      if (!waiting) {
        const o = readOwner(lockFile)?.owner;
        log(`waiting for ${o ? `process ${o.pid} on ${o.host}` : 'another process'}, which is exporting the same checkpoint into ${final}`);
        waiting = true;
      }
      await sleep(opts.pollMs ?? 500);
      continue;
    }
    try {
      if (complete(final)) return final;
      await exportEntry(checkpoint, root, key, lock, opts, log);
      return final;
    } finally {
      lock.release();
    }
  }
}

/** Export into a temporary folder (under the lock), then rename it into place. */
async function exportEntry(checkpoint: string, root: string, key: string, lock: ExportLock, opts: ExportCacheOptions, log: (l: string) => void): Promise<void> {
  const tmp = path.join(root, `.tmp-${key}-${lock.owner.pid}-${lock.owner.since}`);
  const final = path.join(root, key);
  fs.rmSync(tmp, { recursive: true, force: true });
  fs.mkdirSync(tmp);
  const t0 = Date.now();
  try {
    const job: ExportJob = { checkpoint: path.resolve(checkpoint), out: tmp, int8: opts.int8 };
    const onMessage = (m: WorkerMessage) => {
      lock.touch();
      if (m.type === 'loaded') log(`exporting ${checkpoint}${opts.int8 ? ' (int8)' : ''} into the ONNX cache ${final} (once per checkpoint)`);
      else if (m.type === 'log') log(m.line.split(tmp + path.sep).join('')); // file names, not the temporary folder
    };
    const worker = opts.exportIn === 'inline' ? undefined : workerCommand();
    if (worker) await exportInChild(worker, job, onMessage);
    else await runExportJob(job, onMessage);
    if (!complete(tmp)) throw new Error(`export of ${checkpoint}: ${tmp} has no manifest after the export`);
    try {
      fs.renameSync(tmp, final);
    } catch (e) {
      // Only whole exports are ever renamed here: one already in place (another process, without the
      // lock) is as good as ours. A folder there without a manifest was emptied by hand: replace it.
      if (complete(final)) return;
      if (!fs.existsSync(final)) throw e;
      fs.rmSync(final, { recursive: true, force: true });
      fs.renameSync(tmp, final);
    }
    log(`exported in ${((Date.now() - t0) / 1000).toFixed(1)} s`);
  } finally {
    fs.rmSync(tmp, { recursive: true, force: true });
  }
}
