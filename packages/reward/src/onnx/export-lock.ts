import * as fs from 'fs';
import * as os from 'os';

/*
 * A lock file that says "this process is exporting this cache entry": created with O_EXCL, holding the
 * owner's pid, host and process start time, and touched every few seconds while the export runs. The
 * lock saves work and memory (a second process waits for the first export instead of running its own,
 * ~7 GB for the paper preset); it is not what keeps the cache whole — exports are renamed into place
 * whole, so two exporters that both think they hold the lock still leave one complete entry.
 *
 * A lock is dead when its owner is gone: on the same host, its pid no longer runs the process that
 * took it (pid and start time, so a reused pid does not keep a dead lock alive); on another host (a
 * shared cache folder), when it was not touched for STALE_MS.
 */

export const HEARTBEAT_MS = 2000;
export const STALE_MS = 60_000;

export interface LockOwner {
  pid: number;
  host: string;
  /** Start time of the owner process (Linux: /proc/<pid>/stat field 22), so a reused pid is told apart. */
  pidStart?: string;
  /** When the lock was taken (ms since epoch). */
  since: number;
}

/** Field 22 of /proc/<pid>/stat (clock ticks since boot when the process started); undefined off Linux. */
export function processStart(pid: number): string | undefined {
  try {
    const stat = fs.readFileSync(`/proc/${pid}/stat`, 'utf8');
    // The command name (field 2) is in parentheses and may hold spaces: count fields after its last ')'.
    return stat.slice(stat.lastIndexOf(')') + 2).split(' ')[19];
  } catch {
    return undefined;
  }
}

function pidRuns(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch (e) {
    return (e as NodeJS.ErrnoException).code === 'EPERM';
  }
}

export function readOwner(lockFile: string): { owner?: LockOwner; mtimeMs: number } | undefined {
  let st: fs.Stats;
  try {
    st = fs.statSync(lockFile);
  } catch {
    return undefined;
  }
  try {
    return { owner: JSON.parse(fs.readFileSync(lockFile, 'utf8')) as LockOwner, mtimeMs: st.mtimeMs };
  } catch {
    return { mtimeMs: st.mtimeMs }; // being written, or torn: judged by its age alone
  }
}

/** Whether the process that wrote `owner` is still alive (see the header). */
export function ownerAlive(owner: LockOwner | undefined, mtimeMs: number, now = Date.now()): boolean {
  if (owner && owner.host === os.hostname()) {
    if (!pidRuns(owner.pid)) return false;
    const start = processStart(owner.pid);
    return start === undefined || owner.pidStart === undefined || start === owner.pidStart;
  }
  return now - mtimeMs < STALE_MS;
}

export class ExportLock {
  private timer?: NodeJS.Timeout;

  private constructor(
    readonly file: string,
    readonly owner: LockOwner,
  ) {}

  /** Take the lock if it is free or dead; undefined when a live process holds it. */
  static tryAcquire(file: string): ExportLock | undefined {
    for (let attempt = 0; attempt < 2; attempt++) {
      let fd: number;
      const owner: LockOwner = { pid: process.pid, host: os.hostname(), pidStart: processStart(process.pid), since: Date.now() };
      try {
        fd = fs.openSync(file, 'wx');
      } catch (e) {
        if ((e as NodeJS.ErrnoException).code !== 'EEXIST') throw e;
        const seen = readOwner(file);
        if (!seen) continue; // released between the two calls: try again
        if (ownerAlive(seen.owner, seen.mtimeMs)) return undefined;
        fs.rmSync(file, { force: true }); // dead owner: break it and try once more
        continue;
      }
      try {
        fs.writeSync(fd, JSON.stringify(owner) + '\n');
      } finally {
        fs.closeSync(fd);
      }
      const lock = new ExportLock(file, owner);
      lock.timer = setInterval(() => lock.touch(), HEARTBEAT_MS);
      lock.timer.unref();
      return lock;
    }
    return undefined;
  }

  /** The heartbeat (also callable by an exporter that blocks the event loop for a while). */
  touch(): void {
    const now = new Date();
    try {
      fs.utimesSync(this.file, now, now);
    } catch {
      // Removed under us (by hand, or judged dead by another host): the rename into place stays safe.
    }
  }

  release(): void {
    if (this.timer) clearInterval(this.timer);
    this.timer = undefined;
    const seen = readOwner(this.file);
    if (seen?.owner?.pid === process.pid && seen.owner.host === os.hostname()) fs.rmSync(this.file, { force: true });
  }
}
