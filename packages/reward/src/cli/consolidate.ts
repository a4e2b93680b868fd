import * as fs from 'fs';
import * as path from 'path';
import { AnnotationError, consolidateImage, groupByUid, readRawAnnotations } from '../data/consolidate';
import type { RichHFRecord } from '../data/record';
import { writeRichHF } from '../data/richhf';
import { writeFileAtomic } from '../util/atomic';
import { Progress } from '../util/progress';
import { UserError } from '../errors';
import { guarded, rahfCommand } from './command';
import { checkExists, checkOutFile } from './validate';

export interface ConsolidateCliOptions {
  /** Raw annotations, JSONL (docs/raw-annotations.md). */
  input: string;
  /** RichHF TFRecord to write. */
  out: string;
  /** Output heatmap side (default 512, as in RichHF-18K). */
  mapSize?: number;
  /** Captions sidecar (default: `<out without .tfrecord>.captions.jsonl`). */
  captions?: string;
  progress?: boolean;
}

/** The captions sidecar written next to a consolidated TFRecord. */
export function captionsPathFor(out: string): string {
  const dir = path.dirname(out);
  const base = path.basename(out).replace(/\.tfrecords?$/i, '');
  return path.join(dir, `${base}.captions.jsonl`);
}

/**
 * `rahf consolidate`: per-annotator raw annotations → one RichHF record per image (disks of radius
 * height/20 averaged over annotators, mean Likert → [0,1], majority-vote word labels), plus a
 * `{uid, caption}` JSONL sidecar holding the prompts (RichHF records carry no prompt).
 */
export async function runConsolidate(opts: ConsolidateCliOptions): Promise<number> {
  const mapSize = opts.mapSize ?? 512;
  if (!Number.isInteger(mapSize) || mapSize < 1 || mapSize > 4096) {
    throw new UserError(`--map-size must be an integer in [1, 4096], got ${opts.mapSize}`);
  }
  checkExists('input', opts.input, 'file');
  checkOutFile('captions', opts.captions);
  if (fs.existsSync(opts.out) && fs.statSync(opts.out).isDirectory()) {
    throw new UserError(`${opts.out}: is a directory; --out names the TFRecord file to write`);
  }
  const captions = opts.captions ?? captionsPathFor(opts.out);
  try {
    const anns = readRawAnnotations(opts.input);
    const groups = groupByUid(anns);
    const progress = new Progress(groups.length, 'consolidate', { enabled: opts.progress ?? groups.length > 200, unit: 'img' });
    const lines: string[] = [];
    // Streamed: at 512² two maps are 0.5 MB per image, too much to hold for a RichHF-sized set.
    function* records(): Generator<RichHFRecord> {
      for (const g of groups) {
        const c = consolidateImage(g, { mapSize });
        lines.push(JSON.stringify({ uid: c.uid, caption: c.caption }));
        yield c.record;
        progress.tick();
      }
    }
    await writeRichHF(opts.out, records());
    writeFileAtomic(captions, lines.join('\n') + '\n');
    process.stderr.write(
      `rahf: consolidated ${anns.length} annotations of ${groups.length} images into ${opts.out} (captions: ${captions})\n`,
    );
  } catch (e) {
    if (e instanceof AnnotationError) throw new UserError(e.message);
    throw e;
  }
  return 0;
}

export const consolidateCommand = rahfCommand({
  command: 'consolidate',
  describe: 'consolidate per-annotator raw annotations (JSONL) into RichHF TFRecords (docs/raw-annotations.md)',
  builder: (y) =>
    y
      .option('input', { type: 'string', demandOption: true, describe: 'raw annotations: one JSON line per (image, annotator)' })
      .option('out', { type: 'string', demandOption: true, describe: 'RichHF TFRecord file to write' })
      .option('map-size', { type: 'number', default: 512, describe: 'heatmap side in pixels (RichHF-18K: 512)' })
      .option('captions', { type: 'string', describe: 'captions sidecar to write (default: <out stem>.captions.jsonl)' }),
  handler: (argv) => guarded(argv, () => runConsolidate(argv), false),
});
