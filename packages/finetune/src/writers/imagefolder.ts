import * as fs from 'fs';
import * as path from 'path';
import { writeError } from './fs-errors';
import { CommitActions, DatasetWriter, fsyncFile, ImageType, PromptOutputs, sampleMeta } from './output';

export interface ImagefolderOptions {
  out: string;
  staging: string;
  imageType?: ImageType;
  /** Bytes of metadata.jsonl already committed (from the journal on resume). */
  metadataSize?: number;
}

/**
 * A Hugging Face imagefolder: `imagefolder/train/<key>.png` plus `imagefolder/train/metadata.jsonl` with
 * `file_name`, `text` and the scores, which `datasets.load_dataset("imagefolder", data_dir=…)` reads as a
 * `train` split with an `image` column and diffusers' `train_text_to_image.py --train_data_dir` reads with
 * `--caption_column text`. Images wait in staging until their metadata lines are committed, so the folder
 * never holds an image without its row.
 */
export class ImagefolderWriter implements DatasetWriter {
  readonly format = 'imagefolder' as const;
  static readonly METADATA = path.join('imagefolder', 'train', 'metadata.jsonl');
  private metadataSize: number;
  private staged: string[] = [];
  private lines: string[] = [];
  private bytes = 0;
  private readonly imageType: ImageType;
  private readonly dir: string;

  constructor(private readonly o: ImagefolderOptions) {
    this.metadataSize = o.metadataSize ?? 0;
    this.imageType = o.imageType ?? 'png';
    this.dir = path.join(o.staging, 'imagefolder');
  }

  get pending() {
    return { items: this.staged.length, bytes: this.bytes };
  }

  state() {
    return { metadataSize: this.metadataSize };
  }

  async add(out: PromptOutputs): Promise<void> {
    if (out.accepted.length) await fs.promises.mkdir(this.dir, { recursive: true });
    for (const s of out.accepted) {
      const name = `${s.key}.${this.imageType}`;
      const file = path.join(this.dir, name);
      const img = await s.image.as(this.imageType);
      try {
        await fs.promises.writeFile(file, img);
      } catch (e) {
        throw writeError(e, file);
      }
      this.staged.push(name);
      this.bytes += img.length;
      // `file_name` first, as the datasets docs show; the rest are plain columns.
      this.lines.push(JSON.stringify({ file_name: name, text: s.prompt, ...sampleMeta(s) }));
    }
  }

  async seal(): Promise<CommitActions> {
    if (this.staged.length === 0) return { renames: [], appends: [] };
    for (const name of this.staged) {
      const file = path.join(this.dir, name);
      try {
        await fsyncFile(file);
      } catch (e) {
        throw writeError(e, file);
      }
    }
    const text = this.lines.join('\n') + '\n';
    const actions: CommitActions = {
      renames: this.staged.map((name) => [path.relative(this.o.out, path.join(this.dir, name)), path.join('imagefolder', 'train', name)]),
      appends: [{ file: ImagefolderWriter.METADATA, offset: this.metadataSize, text }],
    };
    this.metadataSize += Buffer.byteLength(text, 'utf8');
    this.staged = [];
    this.lines = [];
    this.bytes = 0;
    return actions;
  }

  async abort(): Promise<void> {
    for (const name of this.staged) fs.rmSync(path.join(this.dir, name), { force: true });
    this.staged = [];
    this.lines = [];
    this.bytes = 0;
  }
}
