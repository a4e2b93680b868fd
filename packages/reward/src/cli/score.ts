import * as path from 'path';
import { loadImage, RgbImage } from '../image';
import { heatmapPng, overlayPng } from '../heatmap-image';
import { RewardModel } from '../rahf/model';
import { resolveCheckpoint } from '../bundled';
import { writeFileAtomic } from '../util/atomic';
import { Progress } from '../util/progress';
import { UserError } from './errors';
import { collectImages, Failure, promptFor, readPromptsJsonl } from './inputs';

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

export interface ScoreIO {
  stdout: (line: string) => void;
  stderr: (line: string) => void;
}

const defaultIO: ScoreIO = {
  stdout: (l) => process.stdout.write(l + '\n'),
  stderr: (l) => process.stderr.write(l + '\n'),
};

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
 * `rahf score`: one JSON line per scored image on stdout; heatmaps (grayscale at the image's size and a
 * colour overlay) in `out`. A bad image or prompt fails that image only; failures are listed at the end
 * and make the exit code 2. Returns the exit code.
 */
export async function runScore(opts: ScoreOptions, io: ScoreIO = defaultIO): Promise<number> {
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
      const results = await model.predict(
        ok.map((o) => o.image),
        ok.map((o) => o.prompt),
        { heatmaps: wantHeatmaps, keywords: opts.keywords ?? true },
      );
      for (let i = 0; i < ok.length; i++) {
        const { file, prompt, image } = ok[i];
        const r = results[i];
        io.stdout(JSON.stringify({ file, prompt, scores: r.scores, misaligned: r.misaligned ?? [] }));
        if (opts.out && r.heatmaps) {
          const s = stem(file);
          for (const [kind, map] of Object.entries(r.heatmaps)) {
            writeFileAtomic(path.join(opts.out, `${s}.${kind}.png`), await heatmapPng(map, image.width, image.height));
            writeFileAtomic(
              path.join(opts.out, `${s}.${kind}.overlay.png`),
              await overlayPng(image.data, image.width, image.height, map),
            );
          }
        }
      }
    }
    progress.tick(chunk.length);
  }
  model.dispose();
  reportFailures(failures, files.length + failures.filter((f) => !files.includes(f.file)).length, io);
  return failures.length > 0 ? 2 : 0;
}

function reportFailures(failures: Failure[], total: number, io: ScoreIO): void {
  if (failures.length === 0) return;
  io.stderr(`rahf: ${failures.length} of ${total} image(s) failed:`);
  for (const f of failures) io.stderr(`  ${f.error}`);
}
