import * as fs from 'fs';
import sharp from 'sharp';
import type { Scores } from '../selection';

/** One accepted image as every writer receives it. */
export interface OutputSample {
  /** `<prompt key>_<candidate index>`: tar member stem, image file stem, uid. */
  key: string;
  promptId: string;
  promptKey: string;
  prompt: string;
  candidate: number;
  seed: number | null;
  /** Rank among the prompt's candidates (0 = best) and the selection value that ranked it. */
  rank: number;
  value: number;
  scores: Scores;
  /** Prompt words the reward model marks as not shown (when keywords were decoded). */
  misaligned?: string[];
  settings: Record<string, unknown>;
  width: number;
  height: number;
  /** The image as the generator returned it; writers re-encode through {@link encodeAs} when needed. */
  image: EncodedImage;
}

/** A preference pair for DPO: the best and the worst candidate of one prompt. */
export interface OutputPair {
  promptId: string;
  promptKey: string;
  prompt: string;
  margin: number;
  chosen: OutputSample;
  rejected: OutputSample;
}

/** What one prompt contributes to the outputs. */
export interface PromptOutputs {
  promptId: string;
  promptKey: string;
  accepted: OutputSample[];
  pair?: OutputPair;
}

export type ImageType = 'png' | 'jpg';

/** Encoded bytes with a memo of their re-encodings, so three writers wanting PNG encode once. */
export class EncodedImage {
  private readonly memo = new Map<ImageType, Promise<Uint8Array>>();
  constructor(
    readonly bytes: Uint8Array,
    /** sharp's format name of `bytes` (png, jpeg, webp, …). */
    readonly format: string,
    private readonly jpegQuality = 95,
  ) {}

  as(type: ImageType): Promise<Uint8Array> {
    const same = type === 'png' ? this.format === 'png' : this.format === 'jpeg';
    if (same) return Promise.resolve(this.bytes);
    let p = this.memo.get(type);
    if (!p) {
      const img = sharp(this.bytes);
      p = (type === 'png' ? img.png() : img.flatten({ background: '#ffffff' }).jpeg({ quality: this.jpegQuality })).toBuffer().then((b) => new Uint8Array(b));
      this.memo.set(type, p);
    }
    return p;
  }
}

/** Files staged for a shard and how to publish them (see journal.ts). Paths are relative to --out. */
export interface CommitActions {
  renames: Array<[from: string, to: string]>;
  appends: Array<{ file: string; offset: number; text: string }>;
}

export const FORMAT_NAMES = ['webdataset', 'imagefolder', 'dpo'] as const;
export type FormatName = (typeof FORMAT_NAMES)[number];

/**
 * A dataset writer: `add()` puts a prompt's outputs into the open shard (staged under .finetune/staging, never
 * visible under its final name), `seal()` finishes and fsyncs the staged files and returns the renames and
 * appends that publish them (applied by the journal only after it has recorded them), `abort()` drops them.
 */
export interface DatasetWriter {
  readonly format: FormatName;
  add(out: PromptOutputs): Promise<void>;
  /** Items and bytes in the open shard, for the shard-size policy. */
  readonly pending: { items: number; bytes: number };
  seal(): Promise<CommitActions>;
  abort(): Promise<void>;
  /** Counters to persist in the journal so a resumed run continues numbering and offsets. */
  state(): Record<string, number>;
}

/** The JSON every format stores beside an image (webdataset `key.json`, imagefolder metadata, DPO columns). */
export function sampleMeta(s: OutputSample): Record<string, unknown> {
  return {
    key: s.key,
    prompt_id: s.promptId,
    candidate: s.candidate,
    seed: s.seed,
    rank: s.rank,
    selection_score: round(s.value),
    ...Object.fromEntries(Object.entries(s.scores).map(([k, v]) => [k, round(v)])),
    misaligned: s.misaligned ?? null,
    original_width: s.width,
    original_height: s.height,
    generator: s.settings,
  };
}

export function round(v: number): number {
  return Math.round(v * 1e6) / 1e6;
}

export async function fsyncFile(file: string): Promise<void> {
  const fh = await fs.promises.open(file, 'r+');
  try {
    await fh.sync();
  } finally {
    await fh.close();
  }
}
