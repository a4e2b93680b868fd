import * as fs from 'fs';
import * as path from 'path';
import * as readline from 'readline';
import { UserError } from '@richhf/reward';
import type { ScoreName } from './selection';
import { writeError } from './writers/fs-errors';
import type { CommitActions } from './writers/output';

/** What the journal keeps of one finished prompt (enough for the statistics and the resume check). */
export interface PromptRecord {
  id: string;
  /** Its file-name-safe key (sample keys are `<key>_<candidate>`). */
  key: string;
  /** First 8 hex digits of sha256(prompt): a rerun whose prompts file changed a done prompt is refused. */
  h: string;
  /** Candidates generated and scored. */
  n: number;
  /** Candidate indexes accepted, best first. */
  accepted: number[];
  /** [chosen, rejected] candidate indexes of the DPO pair, if one was formed. */
  pair?: [number, number];
  /** Selection value and each score per candidate, in candidate order (4 decimals). */
  values: number[];
  scores: Record<ScoreName, number[]>;
}

/**
 * One commit: the prompts it finishes, the staged files it publishes and the writers' counters after it.
 * Written (and fsynced) before its actions run; a reopened journal redoes the last record's actions, which
 * are idempotent, so a kill at any instant leaves either the record's whole effect or none of it.
 */
export interface CommitRecord {
  v: 1;
  seq: number;
  at: string;
  prompts: PromptRecord[];
  actions: CommitActions;
  state: Record<string, Record<string, number>>;
}

/** The write-ahead journal of a run: `.finetune/journal.jsonl` under --out. */
export class Journal {
  private fd: number | undefined;
  private constructor(
    readonly out: string,
    readonly staging: string,
    readonly file: string,
    /** Prompt ids committed, with their prompt hash. */
    readonly done: Map<string, string>,
    /** The last record (its `state` seeds the writers), if any. */
    public last: CommitRecord | undefined,
  ) {}

  /**
   * Open (or create) the journal: drop a torn last line, redo the last record, and empty the staging folder
   * (whatever is there belongs to a shard that was never committed).
   */
  static async open(out: string, staging: string): Promise<Journal> {
    const file = path.join(out, '.finetune', 'journal.jsonl');
    fs.mkdirSync(path.dirname(file), { recursive: true });
    const done = new Map<string, string>();
    let last: CommitRecord | undefined;
    let good = 0;
    if (fs.existsSync(file)) {
      let lineNo = 0;
      let pendingError: string | undefined;
      for await (const { record, end, error } of readRecords(file)) {
        lineNo++;
        if (pendingError) throw new UserError(`${file}: line ${lineNo - 1} is corrupt (${pendingError}) and is not the last line; the journal cannot be trusted`);
        if (error) {
          pendingError = error;
          continue;
        }
        for (const p of record!.prompts) done.set(p.id, p.h);
        last = record;
        good = end;
      }
      // A torn tail is a record whose write was cut short: its commit never happened.
      if (fs.statSync(file).size !== good) fs.truncateSync(file, good);
    }
    fs.mkdirSync(staging, { recursive: true });
    const j = new Journal(out, staging, file, done, last);
    if (last) j.apply(last);
    fs.rmSync(staging, { recursive: true, force: true });
    fs.mkdirSync(staging, { recursive: true });
    return j;
  }

  get seq(): number {
    return this.last ? this.last.seq + 1 : 0;
  }

  /** Append a record durably, then publish its files. */
  commit(record: Omit<CommitRecord, 'v' | 'seq' | 'at'>): CommitRecord {
    const full: CommitRecord = { v: 1, seq: this.seq, at: new Date().toISOString(), ...record };
    const line = JSON.stringify(full) + '\n';
    try {
      if (this.fd === undefined) this.fd = fs.openSync(this.file, 'a');
      fs.writeSync(this.fd, line);
      fs.fsyncSync(this.fd);
    } catch (e) {
      // A partial line may be on disk; the next open truncates it. This process must not append after it.
      this.close();
      throw writeError(e, this.file);
    }
    this.last = full;
    for (const p of full.prompts) this.done.set(p.id, p.h);
    this.apply(full);
    return full;
  }

  /** Publish a record's staged files. Idempotent: every step checks what is already done. */
  apply(r: CommitRecord): void {
    const dirs = new Set<string>();
    for (const [from, to] of r.actions.renames) {
      const src = path.join(this.out, from);
      const dst = path.join(this.out, to);
      if (fs.existsSync(src)) {
        fs.mkdirSync(path.dirname(dst), { recursive: true });
        try {
          fs.renameSync(src, dst);
        } catch (e) {
          throw writeError(e, dst);
        }
        dirs.add(path.dirname(dst));
      } else if (!fs.existsSync(dst)) {
        throw new UserError(`${this.file}: commit ${r.seq} lists ${to}, but neither it nor its staged copy exists (files under --out were removed by hand?)`);
      }
    }
    // An append publishes a new whole copy (old bytes + new lines, written in staging, renamed over the old):
    // readers never see a torn last line. Before the rename the file has `offset` bytes, after it `offset`
    // plus the text's, which is how a redo tells the two apart.
    for (const a of r.actions.appends) {
      const file = path.join(this.out, a.file);
      const size = fs.existsSync(file) ? fs.statSync(file).size : 0;
      const len = Buffer.byteLength(a.text, 'utf8');
      if (size === a.offset + len) continue;
      if (size !== a.offset) throw new UserError(`${file}: ${size} bytes where the journal expects ${a.offset} (it was changed by hand)`);
      const tmp = path.join(this.staging, `append-${path.basename(file)}`);
      try {
        fs.mkdirSync(path.dirname(file), { recursive: true });
        if (size > 0) fs.copyFileSync(file, tmp);
        else fs.writeFileSync(tmp, '');
        const fd = fs.openSync(tmp, 'a');
        try {
          fs.writeSync(fd, a.text);
          fs.fsyncSync(fd);
        } finally {
          fs.closeSync(fd);
        }
        fs.renameSync(tmp, file);
      } catch (e) {
        fs.rmSync(tmp, { force: true });
        throw writeError(e, file);
      }
      dirs.add(path.dirname(file));
    }
    for (const d of dirs) fsyncDir(d);
  }

  close(): void {
    if (this.fd !== undefined) fs.closeSync(this.fd);
    this.fd = undefined;
  }

  /** Every committed record, oldest first, read as a stream (the journal can be large). */
  static async *records(out: string): AsyncGenerator<CommitRecord> {
    const file = path.join(out, '.finetune', 'journal.jsonl');
    if (!fs.existsSync(file)) return;
    for await (const { record } of readRecords(file)) if (record) yield record;
  }
}

async function* readRecords(file: string): AsyncGenerator<{ record?: CommitRecord; end: number; error?: string }> {
  const rl = readline.createInterface({ input: fs.createReadStream(file, { encoding: 'utf8' }), crlfDelay: Infinity });
  let offset = 0;
  const size = fs.statSync(file).size;
  for await (const line of rl) {
    offset += Buffer.byteLength(line, 'utf8') + 1;
    // A line without its newline was cut short: its writeSync never returned, so nothing was applied.
    const terminated = offset <= size;
    let record: CommitRecord | undefined;
    try {
      record = JSON.parse(line) as CommitRecord;
    } catch (e) {
      yield { end: offset, error: (e as Error).message };
      continue;
    }
    if (!terminated || record?.v !== 1 || !Array.isArray(record.prompts)) {
      yield { end: offset, error: terminated ? 'not a commit record' : 'unterminated line' };
      continue;
    }
    yield { record, end: offset };
  }
}

function fsyncDir(dir: string): void {
  try {
    const fd = fs.openSync(dir, 'r');
    try {
      fs.fsyncSync(fd);
    } finally {
      fs.closeSync(fd);
    }
  } catch {
    // Some filesystems refuse fsync on directories; the rename itself is still atomic.
  }
}
