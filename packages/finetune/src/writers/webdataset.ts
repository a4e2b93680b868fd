import * as fs from 'fs';
import * as path from 'path';
import { pipeline } from 'stream';
import * as tar from 'tar-stream';
import { writeError } from './fs-errors';
import { CommitActions, DatasetWriter, fsyncFile, ImageType, PromptOutputs, sampleMeta } from './output';

export interface WebdatasetOptions {
  /** The output root (--out) and the staging folder inside it. */
  out: string;
  staging: string;
  /** Image member type (default png: lossless, what open-muse's loaders and diffusers' both decode). */
  imageType?: ImageType;
  /** Next shard number (from the journal on resume). */
  next?: number;
  /** Member mtime, fixed per run so a shard's bytes do not depend on when it was written. */
  mtime?: Date;
}

const BLOCK = 512;
const padded = (n: number) => BLOCK + Math.ceil(n / BLOCK) * BLOCK;

/**
 * WebDataset tar shards in open-muse's text-to-image layout: per sample `key.png` (or `.jpg`), `key.txt` (the
 * caption, read by its `text;txt;caption` rename) and `key.json` (its micro-conditioning fields
 * `original_width`/`original_height` plus the RAHF scores, misaligned words, seed and generator settings).
 * Shards are `webdataset/000000.tar`, `000001.tar`, … — contiguous, so `{000000..NNNNNN}` brace patterns work.
 */
export class WebdatasetWriter implements DatasetWriter {
  readonly format = 'webdataset' as const;
  private next: number;
  private open?: { pack: tar.Pack; file: string; done: Promise<void>; error?: Error };
  private items = 0;
  private bytes = 0;
  private readonly imageType: ImageType;
  private readonly mtime: Date;

  constructor(private readonly o: WebdatasetOptions) {
    this.next = o.next ?? 0;
    this.imageType = o.imageType ?? 'png';
    this.mtime = o.mtime ?? new Date(0);
  }

  get pending() {
    return { items: this.items, bytes: this.bytes };
  }

  state() {
    return { next: this.next };
  }

  static shardName(i: number): string {
    return `${String(i).padStart(6, '0')}.tar`;
  }

  private start() {
    const file = path.join(this.o.staging, `webdataset-${WebdatasetWriter.shardName(this.next)}`);
    fs.mkdirSync(this.o.staging, { recursive: true });
    const pack = tar.pack();
    const ws = fs.createWriteStream(file);
    const open: NonNullable<WebdatasetWriter['open']> = { pack, file, done: Promise.resolve() };
    open.done = new Promise<void>((resolve) =>
      pipeline(pack as unknown as NodeJS.ReadableStream, ws, (err) => {
        if (err) open.error = writeError(err, file);
        resolve();
      }),
    );
    this.open = open;
    return open;
  }

  private entry(open: NonNullable<WebdatasetWriter['open']>, name: string, data: Uint8Array): Promise<void> {
    if (open.error) return Promise.reject(open.error);
    this.bytes += padded(data.length);
    return new Promise((resolve, reject) =>
      open.pack.entry({ name, size: data.length, mtime: this.mtime, mode: 0o644, uname: '', gname: '' }, Buffer.from(data.buffer, data.byteOffset, data.length), (err) =>
        err ? reject(open.error ?? writeError(err, open.file)) : resolve(),
      ),
    );
  }

  async add(out: PromptOutputs): Promise<void> {
    for (const s of out.accepted) {
      const open = this.open ?? this.start();
      const img = await s.image.as(this.imageType);
      await this.entry(open, `${s.key}.${this.imageType}`, img);
      await this.entry(open, `${s.key}.txt`, Buffer.from(s.prompt, 'utf8'));
      await this.entry(open, `${s.key}.json`, Buffer.from(JSON.stringify({ prompt: s.prompt, ...sampleMeta(s) }), 'utf8'));
      this.items++;
    }
  }

  async seal(): Promise<CommitActions> {
    const open = this.open;
    if (!open) return { renames: [], appends: [] };
    open.pack.finalize();
    await open.done;
    this.open = undefined;
    if (open.error) throw open.error;
    try {
      await fsyncFile(open.file);
    } catch (e) {
      throw writeError(e, open.file);
    }
    const to = path.join('webdataset', WebdatasetWriter.shardName(this.next));
    this.next++;
    this.items = 0;
    this.bytes = 0;
    return { renames: [[path.relative(this.o.out, open.file), to]], appends: [] };
  }

  async abort(): Promise<void> {
    const open = this.open;
    this.open = undefined;
    this.items = 0;
    this.bytes = 0;
    if (!open) return;
    open.pack.destroy();
    await open.done;
    fs.rmSync(open.file, { force: true });
  }
}
