import * as fs from 'fs';
import * as path from 'path';
import { UserError } from '@richhf/reward';
import { writeFileAtomic } from '@richhf/reward/util';

/**
 * What fixes a run's outputs. A rerun with the same settings resumes; one that would change what is written
 * (another generator, N, selection, formats…) into the same --out is refused, so one dataset never mixes two.
 * Batch size, threads, concurrency and progress may change between runs: they do not change the outputs.
 */
export interface RunSettings {
  generator: Record<string, unknown>;
  n: number;
  seed: number;
  select: string;
  min: number | null;
  top: number;
  pairs: boolean;
  margin: number;
  formats: string[];
  imageType: string;
  keywords: boolean;
  scorer: Record<string, unknown>;
}

const RUN_FILE = path.join('.finetune', 'run.json');

/**
 * Checks --out before a run touches it: absent or empty → a new run; holding run.json with equal settings →
 * resume; holding another run or unrelated files → a one-line UserError. Returns the run's creation time
 * (fixed member mtimes, so shards do not depend on when they were written).
 */
export function claimOutput(out: string, settings: RunSettings): { created: string; resumed: boolean } {
  const runFile = path.join(out, RUN_FILE);
  if (fs.existsSync(runFile)) {
    let prev: { settings?: RunSettings; created?: string };
    try {
      prev = JSON.parse(fs.readFileSync(runFile, 'utf8'));
    } catch (e) {
      throw new UserError(`--out ${out}: ${RUN_FILE} is unreadable (${(e as Error).message.split('\n')[0]})`);
    }
    const diff = settingsDiff(prev.settings ?? ({} as RunSettings), settings);
    if (diff) throw new UserError(`--out ${out} holds another run's files (${diff}); rerun with that run's options to resume it, or choose a new --out`);
    return { created: prev.created ?? new Date(0).toISOString(), resumed: true };
  }
  if (fs.existsSync(out)) {
    if (!fs.statSync(out).isDirectory()) throw new UserError(`--out ${out}: exists and is not a folder`);
    const entries = fs.readdirSync(out).filter((e) => e !== '.finetune');
    if (entries.length > 0) {
      const shown = entries.slice(0, 3).join(', ') + (entries.length > 3 ? `, … (${entries.length})` : '');
      throw new UserError(`--out ${out} is not empty and holds no finetune run (${shown}); choose an empty or new folder`);
    }
  }
  const created = new Date().toISOString();
  writeFileAtomic(runFile, JSON.stringify({ format: 'richhf-finetune-run', version: 1, created, settings }, null, 2) + '\n');
  return { created, resumed: false };
}

/** The first setting that differs, as "--n 8 here, 4 in the folder", or undefined when they agree. */
export function settingsDiff(prev: RunSettings, now: RunSettings): string | undefined {
  for (const k of Object.keys(now) as (keyof RunSettings)[]) {
    const a = JSON.stringify(canonical(prev[k]));
    const b = JSON.stringify(canonical(now[k]));
    if (a !== b) return `${k}: ${b} now, ${a ?? 'unset'} in the folder`;
  }
  return undefined;
}

function canonical(v: unknown): unknown {
  if (Array.isArray(v)) return v.map(canonical);
  if (v && typeof v === 'object') return Object.fromEntries(Object.keys(v).sort().map((k) => [k, canonical((v as Record<string, unknown>)[k])]));
  return v;
}

/**
 * One builder per --out at a time: `.finetune/lock` holds the owner's pid. A lock whose process is gone
 * (killed, crashed) is taken over — that is the resume case.
 */
const held = new Set<string>();

export function lockOutput(out: string): () => void {
  const file = path.join(out, '.finetune', 'lock');
  fs.mkdirSync(path.dirname(file), { recursive: true });
  for (let attempt = 0; attempt < 2; attempt++) {
    try {
      fs.writeFileSync(file, String(process.pid), { flag: 'wx' });
      held.add(file);
      return () => {
        held.delete(file);
        try {
          if (fs.readFileSync(file, 'utf8') === String(process.pid)) fs.rmSync(file);
        } catch {
          /* already gone */
        }
      };
    } catch (e) {
      if ((e as NodeJS.ErrnoException).code !== 'EEXIST') throw e;
      const pid = Number(fs.readFileSync(file, 'utf8'));
      const ours = pid === process.pid && held.has(file);
      if (ours || (Number.isInteger(pid) && pid > 0 && pid !== process.pid && alive(pid))) {
        throw new UserError(`--out ${out} is in use by another builder (pid ${pid}); wait for it or stop it first`);
      }
      fs.rmSync(file, { force: true });
    }
  }
  throw new UserError(`--out ${out}: cannot take the lock ${file}`);
}

function alive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch (e) {
    return (e as NodeJS.ErrnoException).code === 'EPERM';
  }
}
