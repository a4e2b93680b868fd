import * as path from 'path';
import { loadImage, RgbImage } from '../image';
import { heatmapPeak, heatmapPng16 } from '../heatmap-image';
import { heatmapFigurePng } from '../viz/heatmap-figure';
import { flaggedOf } from '../viz/html';
import { RewardModel } from '../rahf/model';
import { resolveCheckpoint } from '../bundled';
import { writeFileAtomic } from '../util/atomic';
import { Progress } from '../util/progress';
import { UserError } from '../errors';
import { collectImages, Failure, promptFor, readPromptsJsonl } from './inputs';
import { CliIO, guarded, processIO, rahfCommand } from './command';

export interface ScoreOptions {
  paths: string[];
  prompt?: string;
  prompts?: string;
  checkpoint?: string;
  out?: string;
  batchSize?: number;
  keywords?: boolean;
  progress?: boolean;
}

/** Unique output stems: images from different folders may share a base name. */
function stemmer(): (file: string) => string {
  const seen = new Map<string, number>();
  return (file) => {
    const base = path.basename(file, path.extname(file));
    const n = (seen.get(base) ?? 0) + 1;
    seen.set(base, n);
    return n === 1 ? base : `${base}-${n}`;
  };
}

/**
 * `rahf score`: one JSON line per scored image on stdout; heatmaps in `out` (the raw map as 16-bit PNG,
 * its scale in the JSON line, and an overlay figure a person can read). A bad image or prompt fails that
 * image only; failures are listed at the end and make the exit code 2. Returns the exit code.
 */
export async function runScore(opts: ScoreOptions, io: CliIO = processIO): Promise<number> {
  if (opts.prompt === undefined && opts.prompts === undefined) throw new UserError('give --prompt "…" or --prompts prompts.jsonl');
  if (opts.paths.length === 0) throw new UserError('no images given');
  const prompts = opts.prompts ? readPromptsJsonl(opts.prompts) : new Map<string, string>();
  const { files, failures, skipped } = collectImages(opts.paths);
  if (skipped > 0) io.stderr(`rahf: skipped ${skipped} file(s) without an image extension in the given folders`);

  const model = await RewardModel.load(resolveCheckpoint(opts.checkpoint));
  const batchSize = Math.max(1, opts.batchSize ?? 8);
  const wantHeatmaps = Boolean(opts.out);
  const stem = stemmer();
  const progress = new Progress(files.length, 'score', { enabled: opts.progress ?? files.length > batchSize, unit: 'img' });

  for (let start = 0; start < files.length; start += batchSize) {
    const chunk = files.slice(start, start + batchSize);
    const ok: Array<{ file: string; prompt: string; image: RgbImage }> = [];
    for (const file of chunk) {
      const prompt = opts.prompt ?? promptFor(file, prompts);
      try {
        if (prompt === undefined) throw new Error(`${file}: no prompt for this image in ${opts.prompts}`);
        if (!prompt.trim()) throw new Error(`${file}: empty prompt`);
        ok.push({ file, prompt, image: await loadImage(file) });
      } catch (e) {
        failures.push({ file, error: (e as Error).message.split('\n')[0] });
      }
    }
    if (ok.length > 0) {
      const results = await model.score(
        ok.map((o) => o.image),
        ok.map((o) => o.prompt),
        { heatmaps: wantHeatmaps, keywords: opts.keywords ?? true },
      );
      for (let i = 0; i < ok.length; i++) {
        const { file, prompt, image } = ok[i];
        const r = results[i];
        // Raw maps: 16-bit PNG at the map's own size, value = pixel × scale; overlays: a figure with legend,
        // peak and the prompt's flagged words (viz/heatmap-figure.ts).
        const heatmaps: Record<string, object> = {};
        if (opts.out && r.heatmaps) {
          const s = stem(file);
          for (const [kind, map] of Object.entries(r.heatmaps)) {
            const raw = await heatmapPng16(map);
            const rawFile = path.join(opts.out, `${s}.${kind}.png`);
            const overlay = path.join(opts.out, `${s}.${kind}.overlay.png`);
            writeFileAtomic(rawFile, raw.png);
            const flagged = flaggedOf(r);
            writeFileAtomic(overlay, await heatmapFigurePng({ image, map, title: kind, prompt, flagged, scores: r.scores }));
            const { value, x, y, region } = heatmapPeak(map, image.width, image.height);
            heatmaps[kind] = { file: rawFile, width: raw.width, height: raw.height, scale: raw.scale, max: raw.max, overlay, peak: { value, x, y, region } };
          }
        }
        io.stdout(JSON.stringify({ file, prompt, scores: r.scores, misaligned: r.misaligned ?? [], ...(opts.out ? { heatmaps } : {}) }));
      }
    }
    progress.tick(chunk.length);
  }
  model.dispose();
  reportFailures(failures, files.length + failures.filter((f) => !files.includes(f.file)).length, io);
  return failures.length > 0 ? 2 : 0;
}

function reportFailures(failures: Failure[], total: number, io: CliIO): void {
  if (failures.length === 0) return;
  io.stderr(`rahf: ${failures.length} of ${total} image(s) failed:`);
  for (const f of failures) io.stderr(`  ${f.error}`);
}

export const scoreCommand = rahfCommand({
  command: 'score <paths..>',
  describe: 'score images (files or folders) with a RAHF checkpoint',
  builder: (y) =>
    y
      .positional('paths', { type: 'string', array: true, demandOption: true })
      .option('prompt', { type: 'string', describe: 'prompt for every image' })
      .option('prompts', { type: 'string', describe: 'JSONL file of {"file", "prompt"} per image' })
      .option('checkpoint', { type: 'string', describe: 'RAHF checkpoint directory or HF hub id (default: bundled)' })
      .option('out', { type: 'string', describe: 'folder for heatmap PNGs and overlays' })
      .option('batch-size', { type: 'number', default: 8 })
      .option('keywords', { type: 'boolean', default: true, describe: 'decode misaligned prompt words' })
      .conflicts('prompt', 'prompts'),
  handler: (argv) =>
    guarded(argv, () =>
      runScore({
        paths: argv.paths as string[],
        prompt: argv.prompt,
        prompts: argv.prompts,
        checkpoint: argv.checkpoint,
        out: argv.out,
        batchSize: argv['batch-size'],
        keywords: argv.keywords,
      }),
    ),
});
