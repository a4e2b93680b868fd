import { createHash } from 'crypto';
import * as fs from 'fs';
import * as path from 'path';
import { SCORE_NAMES } from '@richhf/reward';
import type { ColumnSource } from 'hyparquet-writer';
import { hyparquetWriter } from '../esm';
import type { ScoreName } from '../selection';
import { writeError } from './fs-errors';
import { CommitActions, DatasetWriter, fsyncFile, OutputSample, PromptOutputs, round } from './output';

export interface DpoOptions {
  out: string;
  staging: string;
  next?: number;
  /** Rows per parquet row group (default 32: a group holds 64 images, a few MB to tens of MB). */
  rowGroupRows?: number;
  /** Name of the generator, for Pick-a-Pic's model_0 / model_1 columns. */
  model?: string;
}

type Row = Record<string, string | number | bigint | boolean | Uint8Array | null>;

/** Column name → parquet type, Pick-a-Pic's names first (Diffusion-DPO reads caption, jpg_0, jpg_1, label_0). */
const COLUMNS: Array<[string, 'STRING' | 'BYTE_ARRAY' | 'DOUBLE' | 'INT64' | 'BOOLEAN']> = [
  ['caption', 'STRING'],
  ['jpg_0', 'BYTE_ARRAY'],
  ['jpg_1', 'BYTE_ARRAY'],
  ['label_0', 'DOUBLE'],
  ['label_1', 'DOUBLE'],
  ['image_0_uid', 'STRING'],
  ['image_1_uid', 'STRING'],
  ['model_0', 'STRING'],
  ['model_1', 'STRING'],
  ['best_image_uid', 'STRING'],
  ['are_different', 'BOOLEAN'],
  ['prompt_id', 'STRING'],
  ['seed_0', 'INT64'],
  ['seed_1', 'INT64'],
  ['score_0', 'DOUBLE'],
  ['score_1', 'DOUBLE'],
  ...SCORE_NAMES.flatMap((n): Array<[string, 'DOUBLE']> => [
    [`${n}_0`, 'DOUBLE'],
    [`${n}_1`, 'DOUBLE'],
  ]),
];

/**
 * Diffusion-DPO / Pick-a-Pic-style preference parquet: one row per pair (`caption`, `jpg_0`, `jpg_1` as
 * JPEG bytes, `label_0`/`label_1` = 1/0 for the preferred side, `image_0_uid`/`image_1_uid`), plus the
 * selection scores and each RAHF score per side. Which side holds the winner is decided by a hash of the prompt
 * id, so half the rows have label_0 = 1 as in Pick-a-Pic and a rerun writes the same rows. Files are
 * `dpo/train-000000.parquet`, …, which `load_dataset("parquet", data_dir=…)` reads as the train split.
 */
export class DpoParquetWriter implements DatasetWriter {
  readonly format = 'dpo' as const;
  private next: number;
  private rows: Row[] = [];
  private open?: { file: string; writer: InstanceType<ReturnType<typeof hyparquetWriter>['ParquetWriter']>; rows: number };
  private bytes = 0;
  private items = 0;
  private readonly groupRows: number;

  constructor(private readonly o: DpoOptions) {
    this.next = o.next ?? 0;
    this.groupRows = o.rowGroupRows ?? 32;
  }

  get pending() {
    return { items: this.items, bytes: this.bytes };
  }

  state() {
    return { next: this.next };
  }

  static fileName(i: number): string {
    return `train-${String(i).padStart(6, '0')}.parquet`;
  }

  async add(out: PromptOutputs): Promise<void> {
    const p = out.pair;
    if (!p) return;
    const chosenFirst = createHash('sha256').update(p.promptId).digest()[0] % 2 === 0;
    const [a, b] = chosenFirst ? [p.chosen, p.rejected] : [p.rejected, p.chosen];
    const [ja, jb] = await Promise.all([a.image.as('jpg'), b.image.as('jpg')]);
    const side = (s: OutputSample, i: 0 | 1): Row => ({
      [`image_${i}_uid`]: s.key,
      [`model_${i}`]: this.o.model ?? null,
      [`seed_${i}`]: s.seed === null ? null : BigInt(s.seed),
      [`score_${i}`]: round(s.value),
      ...Object.fromEntries(SCORE_NAMES.map((n) => [`${n}_${i}`, round(s.scores[n as ScoreName])])),
    });
    this.rows.push({
      caption: p.prompt,
      jpg_0: ja,
      jpg_1: jb,
      label_0: chosenFirst ? 1 : 0,
      label_1: chosenFirst ? 0 : 1,
      best_image_uid: p.chosen.key,
      are_different: true,
      prompt_id: p.promptId,
      ...side(a, 0),
      ...side(b, 1),
    });
    this.items++;
    this.bytes += ja.length + jb.length;
    if (this.rows.length >= this.groupRows) await this.flushRows();
  }

  private async flushRows(): Promise<void> {
    if (this.rows.length === 0) return;
    const hw = hyparquetWriter();
    const columnData: ColumnSource[] = COLUMNS.map(([name, type]) => ({
      name,
      type,
      data: this.rows.map((r) => r[name] ?? null) as ColumnSource['data'],
      // Min/max of JPEG bytes help no reader; keep the footer small.
      statistics: type !== 'BYTE_ARRAY',
    }));
    if (!this.open) {
      fs.mkdirSync(this.o.staging, { recursive: true });
      const file = path.join(this.o.staging, `dpo-${DpoParquetWriter.fileName(this.next)}`);
      try {
        const writer = new hw.ParquetWriter({ writer: hw.fileWriter(file), schema: hw.schemaFromColumnData({ columnData }), createdBy: 'richhf-finetune' });
        this.open = { file, writer, rows: 0 };
      } catch (e) {
        throw writeError(e, file);
      }
    }
    const open = this.open;
    try {
      await open.writer.write({ columnData, rowGroupSize: this.rows.length });
    } catch (e) {
      throw writeError(e, open.file);
    }
    open.rows += this.rows.length;
    this.rows = [];
  }

  async seal(): Promise<CommitActions> {
    await this.flushRows();
    const open = this.open;
    if (!open) return { renames: [], appends: [] };
    try {
      await open.writer.finish();
      await fsyncFile(open.file);
    } catch (e) {
      throw writeError(e, open.file);
    }
    this.open = undefined;
    const to = path.join('dpo', DpoParquetWriter.fileName(this.next));
    this.next++;
    this.items = 0;
    this.bytes = 0;
    return { renames: [[path.relative(this.o.out, open.file), to]], appends: [] };
  }

  async abort(): Promise<void> {
    if (this.open) fs.rmSync(this.open.file, { force: true });
    this.open = undefined;
    this.rows = [];
    this.items = 0;
    this.bytes = 0;
  }
}
