import * as path from 'path';
import { Journal, PromptRecord } from './journal';
import { claimOutput, lockOutput, RunSettings } from './run-config';
import { DpoParquetWriter } from './writers/dpo-parquet';
import { ImagefolderWriter } from './writers/imagefolder';
import { CommitActions, DatasetWriter, FormatName, ImageType, PromptOutputs } from './writers/output';
import { WebdatasetWriter } from './writers/webdataset';

export interface ShardPolicy {
  /** Close the shards when any format's open shard holds this many samples (or pairs). Default 1000. */
  shardSamples?: number;
  /** … or this many bytes of images. Default 1 GiB. */
  shardBytes?: number;
  /** … or this many seconds passed since the last commit: the most work a kill can lose. Default 600. */
  commitSeconds?: number;
}

export interface OutputSetOptions extends ShardPolicy {
  out: string;
  formats: FormatName[];
  imageType?: ImageType;
  settings: RunSettings;
  /** Generator name for DPO's model_0/model_1. */
  model?: string;
}

/**
 * The output folder of one run: its writers, its journal, and the commit policy that ties them together. A
 * commit seals every writer's open shard at once and records them with the prompts they finish in one journal
 * line; so shard boundaries are shared, and a prompt is either committed in every format or in none.
 */
export class OutputSet {
  private pendingPrompts: PromptRecord[] = [];
  private lastCommit = Date.now();
  private closed = false;
  readonly staging: string;

  private constructor(
    readonly out: string,
    private readonly journal: Journal,
    readonly writers: DatasetWriter[],
    private readonly policy: Required<ShardPolicy>,
    private readonly unlock: () => void,
    readonly resumed: boolean,
  ) {
    this.staging = path.join(out, '.finetune', 'staging');
  }

  static async open(o: OutputSetOptions): Promise<OutputSet> {
    const out = path.resolve(o.out);
    const { created, resumed } = claimOutput(out, o.settings);
    const unlock = lockOutput(out);
    try {
      const staging = path.join(out, '.finetune', 'staging');
      const journal = await Journal.open(out, staging);
      const state = journal.last?.state ?? {};
      const writers: DatasetWriter[] = o.formats.map((f) => {
        switch (f) {
          case 'webdataset':
            return new WebdatasetWriter({ out, staging, imageType: o.imageType, next: state.webdataset?.next, mtime: new Date(created) });
          case 'imagefolder':
            return new ImagefolderWriter({ out, staging, imageType: o.imageType, metadataSize: state.imagefolder?.metadataSize });
          case 'dpo':
            return new DpoParquetWriter({ out, staging, next: state.dpo?.next, model: o.model });
        }
      });
      const policy = { shardSamples: o.shardSamples ?? 1000, shardBytes: o.shardBytes ?? 2 ** 30, commitSeconds: o.commitSeconds ?? 600 };
      return new OutputSet(out, journal, writers, policy, unlock, resumed);
    } catch (e) {
      unlock();
      throw e;
    }
  }

  /** Prompt ids already committed, with their prompt hashes. */
  get done(): ReadonlyMap<string, string> {
    return this.journal.done;
  }

  get commits(): number {
    return this.journal.seq;
  }

  /** Add one finished prompt; commits when a shard is full or the commit interval has passed. */
  async add(outputs: PromptOutputs, record: PromptRecord): Promise<boolean> {
    for (const w of this.writers) await w.add(outputs);
    this.pendingPrompts.push(record);
    const full = this.writers.some((w) => w.pending.items >= this.policy.shardSamples || w.pending.bytes >= this.policy.shardBytes);
    if (full || Date.now() - this.lastCommit >= this.policy.commitSeconds * 1000) {
      await this.commit();
      return true;
    }
    return false;
  }

  /** Seal every open shard and record them with the pending prompts. A no-op with nothing pending. */
  async commit(): Promise<void> {
    if (this.pendingPrompts.length === 0) return;
    const actions: CommitActions = { renames: [], appends: [] };
    for (const w of this.writers) {
      const a = await w.seal();
      actions.renames.push(...a.renames);
      actions.appends.push(...a.appends);
    }
    const state = Object.fromEntries(this.writers.map((w) => [w.format, w.state()]));
    this.journal.commit({ prompts: this.pendingPrompts, actions, state });
    this.pendingPrompts = [];
    this.lastCommit = Date.now();
  }

  /** Commit what is pending and release --out. */
  async close(): Promise<void> {
    if (this.closed) return;
    try {
      await this.commit();
    } finally {
      this.release();
    }
  }

  /** Drop the open shards (a write failed: they cannot be trusted) and release --out; commits stay. */
  async abort(): Promise<void> {
    if (this.closed) return;
    try {
      for (const w of this.writers) await w.abort().catch(() => undefined);
      this.pendingPrompts = [];
    } finally {
      this.release();
    }
  }

  private release(): void {
    this.closed = true;
    this.journal.close();
    this.unlock();
  }
}
