import * as fs from 'fs';
import * as path from 'path';
import { resolveCheckpoint } from '../bundled';
import { WORLD_MANIFEST, writeSynthWorld } from '../data/synth/world';
import { readCaptionsJsonl } from '../eval/dataset';
import { heatmapPeak } from '../heatmap-image';
import { heatmapFigurePng } from '../viz/heatmap-figure';
import { flaggedOf } from '../viz/html';
import { loadImage } from '../image';
import { writeFileAtomic } from '../util/atomic';
import { formatDuration } from '../util/progress';
import { UserError } from '../errors';
import { runEval } from './eval';
import { CliIO, checkIntIn, guarded, processIO, rahfCommand } from './command';
import { checkInt, checkOutDir } from './validate';
import { checkEngineOptions, EngineCliOptions, openCliScorer, withEngineOptions } from './engine';

export interface DemoOptions extends EngineCliOptions {
  /** Output folder (default ./demo-out): data/ (the synthetic set), overlays/, eval.json. */
  out?: string;
  /** Synthetic images to generate (default 200; split 80/10/10, all evaluated). */
  n?: number;
  /** World seed (default 7: never used to train the bundled checkpoint). */
  seed?: number;
  /** Checkpoint (default: the bundled one). */
  checkpoint?: string;
  /** Images whose heatmap overlays are written (default 4). */
  overlays?: number;
  batchSize?: number;
  progress?: boolean;
}

/** A path relative to the working directory when it lies under it, else as it is. */
function shortPath(file: string): string {
  const rel = path.relative(process.cwd(), file);
  return rel && !rel.startsWith('..') ? rel : file;
}

/**
 * `rahf demo`: generate a small synthetic RichHF set (seed 7 — a world the bundled checkpoint never saw),
 * score a few images with the checkpoint and write their heatmap overlays, then evaluate the checkpoint on
 * the set with the paper's metrics against the constant baseline and print the tables. Returns the
 * exit code.
 */
export async function runDemo(opts: DemoOptions = {}, io: CliIO = processIO): Promise<number> {
  const t0 = Date.now();
  const out = path.resolve(opts.out ?? 'demo-out');
  const n = opts.n ?? 200;
  const seed = opts.seed ?? 7;
  const nOverlays = opts.overlays ?? 4;
  checkIntIn('n', n, 10, 100000);
  checkOutDir('out', out);
  checkInt('batch-size', opts.batchSize);
  checkIntIn('seed', seed, 0, 2 ** 31 - 1);
  checkIntIn('overlays', nOverlays, 0, 1000);
  checkEngineOptions(opts);
  const checkpoint = resolveCheckpoint(opts.checkpoint);
  const dataDir = path.join(out, 'data');
  if (fs.existsSync(out) && !fs.statSync(out).isDirectory()) throw new UserError(`${out}: exists and is not a directory`);
  if (fs.existsSync(dataDir) && fs.readdirSync(dataDir).length > 0 && !fs.existsSync(path.join(dataDir, WORLD_MANIFEST))) {
    throw new UserError(`${dataDir}: not empty and not a synthetic world; choose another --out`);
  }

  io.stderr(`rahf demo: writing to ${out}`);
  const world = await writeSynthWorld({ out: dataDir, n, seed, progress: opts.progress ?? false });
  io.stderr(`rahf demo: ${n} synthetic images (seed ${seed}) in ${dataDir} (${world.seconds.toFixed(1)}s)`);

  // A few images scored and drawn: the scores, the misaligned words and the two heatmap overlays.
  const overlayDir = path.join(out, 'overlays');
  if (nOverlays > 0) {
    const captions = readCaptionsJsonl(path.join(dataDir, 'captions.jsonl'));
    const picked = [...captions.entries()].slice(0, nOverlays);
    const model = await openCliScorer(checkpoint, { ...opts, heatmaps: true, keywords: true, batchSize: opts.batchSize ?? 8 }, io);
    try {
      const images = await Promise.all(picked.map(([uid]) => loadImage(path.join(dataDir, 'images', `${uid}.png`))));
      const results = await model.score(images, picked.map(([, c]) => c));
      io.stdout(`Scores of ${picked.length} images (overlays in ${overlayDir}):`);
      for (let i = 0; i < picked.length; i++) {
        const [uid, caption] = picked[i];
        const r = results[i];
        const s = r.scores;
        io.stdout(
          `  ${uid}  "${caption}"\n    plausibility ${s.plausibility.toFixed(2)}  alignment ${s.alignment.toFixed(2)}  ` +
            `aesthetics ${s.aesthetics.toFixed(2)}  overall ${s.overall.toFixed(2)}  misaligned: ${(r.misaligned ?? []).join(', ') || '—'}`,
        );
        // Where a person should look: each map's peak, in words and pixels, beside the figure's file.
        for (const [kind, map] of Object.entries(r.heatmaps ?? {})) {
          const img = images[i];
          const file = path.join(overlayDir, `${uid}.${kind}.png`);
          const flagged = flaggedOf(r);
          writeFileAtomic(file, await heatmapFigurePng({ image: img, map, title: kind, prompt: caption, flagged, scores: s }));
          const p = heatmapPeak(map, img.width, img.height);
          io.stdout(
            `    ${kind}: look at the ${p.region} (peak ${p.value.toFixed(2)} at x ${p.x}, y ${p.y}; ` +
              `${Math.round(p.area * 100)}% of the image at ≥ half of it) → ${shortPath(file)}`,
          );
        }
      }
    } finally {
      await model.dispose();
    }
  }

  // Every split of the generated world is unseen data for the checkpoint; evaluate the largest one.
  io.stdout('');
  io.stdout(`Evaluation on the ${world.counts.train} images of ${path.join(dataDir, 'train.tfrecord')} (seed ${seed}; constant baseline = their mean):`);
  const code = await runEval(
    {
      checkpoint,
      data: dataDir,
      split: 'train',
      out: path.join(out, 'eval.json'),
      batchSize: opts.batchSize,
      progress: opts.progress ?? true,
      engine: opts.engine,
      int8: opts.int8,
      threads: opts.threads,
      backend: opts.backend,
      cacheDir: opts.cacheDir,
    },
    { stdout: io.stdout, stderr: io.stderr },
  );
  io.stderr(`rahf demo: done in ${formatDuration((Date.now() - t0) / 1000)}; metrics JSON in ${path.join(out, 'eval.json')}`);
  return code;
}

export const demoCommand = rahfCommand({
  command: 'demo',
  describe: 'generate a small synthetic set, score it with the bundled checkpoint, write overlays, print the evaluation',
  builder: (y) =>
    withEngineOptions(y)
      .option('out', { type: 'string', default: 'demo-out', describe: 'output folder' })
      .option('n', { type: 'number', default: 200, describe: 'synthetic images to generate' })
      .option('seed', { type: 'number', default: 7 })
      .option('checkpoint', { type: 'string', describe: 'checkpoint (default: bundled)' })
      .option('overlays', { type: 'number', default: 4 }),
  handler: (argv) =>
    guarded(
      argv,
      () =>
        runDemo({
          out: argv.out,
          n: argv.n,
          seed: argv.seed,
          checkpoint: argv.checkpoint,
          overlays: argv.overlays,
          engine: argv.engine,
          int8: argv.int8,
          threads: argv.threads,
          backend: argv.backend,
        }),
      false, // the engine choice brings tfjs up only when it may run the model
    ),
});
