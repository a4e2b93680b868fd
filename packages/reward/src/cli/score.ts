import * as path from 'path';
import { loadImage, RgbImage } from '../image';
import { heatmapPeak, heatmapPng16 } from '../heatmap-image';
import { heatmapFigurePng } from '../viz/heatmap-figure';
import { flaggedOf } from '../viz/html';
import { writeFileAtomic } from '../util/atomic';
import { inOrderAhead } from '../util/ahead';
import { Progress } from '../util/progress';
import { UserError } from '../errors';
import { collectImages, Failure, promptFor, readPromptsJsonl } from './inputs';
import { CliIO, checkInt, guarded, processIO, rahfCommand } from './command';
import { checkExists, checkOutDir } from './validate';
import { checkEngineOptions, EngineCliOptions, engineLine, openCliScorer, withEngineOptions } from './engine';

export interface ScoreOptions extends EngineCliOptions {
  paths: string[];
  prompt?: string;
  prompts?: string;
  checkpoint?: string;
  out?: string;
  batchSize?: number;
  keywords?: boolean;
  /** Progress line and closing summary on stderr (default: when there is more than one batch). */
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

/** The progress line's stream: the process's stderr (redrawn in place on a TTY), or the given io's line sink. */
function progressStream(io: CliIO): NodeJS.WriteStream | undefined {
  if (io === processIO) return undefined;
  return { isTTY: false, write: (s: string) => (io.stderr(s.replace(/\n$/, '')), true) } as unknown as NodeJS.WriteStream;
}

type Loaded = { file: string; prompt: string; image: RgbImage } | { file: string; error: string };

async function* listed<T>(items: T[]): AsyncGenerator<T> {
  yield* items;
}

/**
 * `rahf score`: one JSON line per scored image on stdout; heatmaps in `out` (the raw map as 16-bit PNG,
 * its scale in the JSON line, and an overlay figure a person can read). The engine is chosen as
 * cli/engine.ts says (onnxruntime on the CPU by default); images are decoded ahead of the model (sharp
 * works on libuv's threads). A bad image or prompt fails that image only; failures are listed at the
 * end and make the exit code 2. Returns the exit code.
 */
export async function runScore(opts: ScoreOptions, io: CliIO = processIO): Promise<number> {
  if (opts.prompt === undefined && opts.prompts === undefined) throw new UserError('give --prompt "…" or --prompts prompts.jsonl');
  if (opts.paths.length === 0) throw new UserError('no images given');
  checkOutDir('out', opts.out);
  checkExists('prompts', opts.prompts, 'file');
  checkInt('batch-size', opts.batchSize);
  checkEngineOptions(opts);
  const batchSize = opts.batchSize ?? 8;
  const prompts = opts.prompts ? readPromptsJsonl(opts.prompts) : new Map<string, string>();
  const { files, failures, skipped } = collectImages(opts.paths);
  if (skipped > 0) io.stderr(`rahf: skipped ${skipped} file(s) without an image extension in the given folders`);

  const t0 = Date.now();
  const wantHeatmaps = Boolean(opts.out);
  const scorer = await openCliScorer(opts.checkpoint, { ...opts, heatmaps: wantHeatmaps, keywords: opts.keywords ?? true, batchSize }, io);
  const openS = (Date.now() - t0) / 1000;
  const stem = stemmer();
  const showProgress = opts.progress ?? files.length > batchSize;
  const progress = new Progress(files.length, 'score', { enabled: showProgress, unit: 'img', stream: progressStream(io) });
  const t1 = Date.now();
  let scored = 0;

  const load = async (file: string): Promise<Loaded> => {
    const prompt = opts.prompt ?? promptFor(file, prompts);
    try {
      if (prompt === undefined) throw new Error(`${file}: no prompt for this image in ${opts.prompts}`);
      if (!prompt.trim()) throw new Error(`${file}: empty prompt`);
      return { file, prompt, image: await loadImage(file) };
    } catch (e) {
      return { file, error: (e as Error).message.split('\n')[0] };
    }
  };
  const emit = async (batch: Array<{ file: string; prompt: string; image: RgbImage }>) => {
    const results = await scorer.score(
      batch.map((o) => o.image),
      batch.map((o) => o.prompt),
    );
    for (let i = 0; i < batch.length; i++) {
      const { file, prompt, image } = batch[i];
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
    scored += batch.length;
    progress.tick(batch.length);
  };

  try {
    let batch: Array<{ file: string; prompt: string; image: RgbImage }> = [];
    for await (const item of inOrderAhead(listed(files), load, 2 * batchSize)) {
      if ('error' in item) {
        failures.push({ file: item.file, error: item.error });
        progress.tick(1);
        continue;
      }
      batch.push(item);
      if (batch.length === batchSize) {
        await emit(batch);
        batch = [];
      }
    }
    if (batch.length > 0) await emit(batch);
  } finally {
    await scorer.dispose();
  }
  if (showProgress) {
    const secs = (Date.now() - t1) / 1000;
    const rss = process.resourceUsage().maxRSS / 1024;
    io.stderr(
      `rahf: scored ${scored} of ${files.length} image(s) in ${secs.toFixed(2)} s, ${(scored / secs).toFixed(2)} images/s; ` +
        `opened in ${openS.toFixed(1)} s; peak RSS ${rss.toFixed(0)} MB; ${engineLine(scorer)}`,
    );
  }
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
    withEngineOptions(y)
      .positional('paths', { type: 'string', array: true, demandOption: true })
      .option('prompt', { type: 'string', describe: 'prompt for every image' })
      .option('prompts', { type: 'string', describe: 'JSONL file of {"file", "prompt"} per image' })
      .option('checkpoint', { type: 'string', describe: 'RAHF checkpoint directory or HF hub id (default: bundled)' })
      .option('out', { type: 'string', describe: 'folder for heatmap PNGs and overlays' })
      .option('batch-size', { type: 'number', default: 8 })
      .option('keywords', { type: 'boolean', default: true, describe: 'decode misaligned prompt words' })
      .option('progress', { type: 'boolean', describe: 'progress line (count, images/s, ETA) and a closing summary on stderr (default: for more than one batch)' })
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
        progress: argv.progress,
        engine: argv.engine,
        int8: argv.int8,
        threads: argv.threads,
        backend: argv.backend,
      }),
      false, // the engine choice brings tfjs up only when it may run the model
    ),
});
