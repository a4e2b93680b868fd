import * as fs from 'fs';
import * as os from 'os';
import * as path from 'path';
import sharp from 'sharp';
import { BUNDLED_CHECKPOINT, exportRahf, OnnxScorer, openScorer, RewardModel, type Scorer } from '@richhf/reward';
import { build } from '../builder';

/*
 * Best-of-N figures (a benchmark, never a test; `pnpm bench` runs it):
 * - bestofn_img_per_s: candidates per second through the builder (folder generator → decode → score → select →
 *   webdataset writer) with the preset's int8 export at batch 8 and N = 8, and forward_bs8_int8_img_per_s: the
 *   bare scores graph, batch 8, on the same session. The two are timed in turns — one prompt through the builder,
 *   one bare batch, and so on — so both see the same load on a shared machine; each figure is 8 / the median of
 *   its times, bestofn_fraction_of_forward the median of the per-turn ratios. The builder runs with one prompt in
 *   flight (nothing generated ahead while the bare batch is timed), so decoding is not hidden behind scoring:
 *   the figure is a floor. Candidates are model-sized PNGs, so the ratio is what the builder itself costs;
 *   bestofn_512px_img_per_s adds decoding and resizing 512×512 candidates, what SD 1.5 hands over.
 * - bestofn_tiny_img_per_s: the same with the bundled checkpoint.
 * - peak_rss_200_mb / peak_rss_2000_mb: the process's peak RSS after 200 and after 2 000 candidates of one
 *   bundled-checkpoint run (measured first, before any paper-preset memory).
 */

export interface BenchBestOfNOptions {
  preset?: string;
  /** Timed turns: prompts (of N = 8) through the builder, each followed by a bare batch (default 6). */
  runs?: number;
  threads?: number;
  /** Skip the paper-preset figures (export and timing take minutes). */
  skipPreset?: boolean;
  skipMemory?: boolean;
  /** Keep the preset's int8 export here and reuse it when present (default: a temporary folder). */
  exportDir?: string;
  log?: (line: string) => void;
}

const PROMPT = 'a photo of a red cat sitting on a blue sofa next to two green apples';
const N = 8;

/** `prompts` prompt folders of N hard-linked PNGs (distinct pixels per k) at size×size, and the prompts file. */
async function candidates(dir: string, prompts: number, size: number): Promise<{ prompts: string; folder: string }> {
  const folder = path.join(dir, `cands-${size}-${prompts}`);
  const base = path.join(dir, `base-${size}`);
  fs.mkdirSync(base, { recursive: true });
  for (let k = 0; k < N; k++) {
    const px = Buffer.alloc(size * size * 3);
    for (let i = 0; i < px.length; i++) px[i] = (i * (k + 3) + ((i / (3 * size)) | 0) * 7) & 255;
    await sharp(px, { raw: { width: size, height: size, channels: 3 } }).png().toFile(path.join(base, `${k}.png`));
  }
  const lines: string[] = [];
  for (let p = 0; p < prompts; p++) {
    fs.mkdirSync(path.join(folder, `p${p}`), { recursive: true });
    for (let k = 0; k < N; k++) fs.linkSync(path.join(base, `${k}.png`), path.join(folder, `p${p}`, `${k}.png`));
    lines.push(JSON.stringify({ id: `p${p}`, prompt: PROMPT }));
  }
  const file = path.join(dir, `prompts-${size}-${prompts}.jsonl`);
  fs.writeFileSync(file, lines.join('\n') + '\n');
  return { prompts: file, folder };
}

/** Candidates per second from the first finished prompt to the last; `onPrompt(done)` after each. */
async function throughput(scorer: Scorer, c: { prompts: string; folder: string }, out: string, onPrompt?: (done: number) => void): Promise<number> {
  const run = build({ prompts: c.prompts, generator: `folder:${c.folder}`, n: N, out, scorer, batchSize: 8, keywords: false, progress: false, formats: ['webdataset'], log: () => undefined });
  let first = 0;
  let last = 0;
  let done = 0;
  for await (const _ of run) {
    done++;
    last = Date.now();
    if (done === 1) first = last;
    onPrompt?.(done);
  }
  return (N * (done - 1)) / ((last - first) / 1000);
}

const median = (a: number[]) => [...a].sort((x, y) => x - y)[Math.floor(a.length / 2)];

const seconds = (t0: bigint) => Number(process.hrtime.bigint() - t0) / 1e9;

/** Builder prompts and bare forward batches in turns (see the header); the first turn warms both up. */
async function paired(sc: OnnxScorer, c: { prompts: string; folder: string }, out: string): Promise<{ builder: number; forward: number; fraction: number }> {
  const s = sc.config.imageSize;
  const x = Float32Array.from({ length: 8 * s * s * 3 }, (_, i) => Math.sin(i * 0.37) * 0.9);
  const prompts = Array.from({ length: 8 }, () => PROMPT);
  const tb: number[] = [];
  const tf: number[] = [];
  const run = build({ prompts: c.prompts, generator: `folder:${c.folder}`, n: N, out, scorer: sc, batchSize: 8, concurrency: 1, keywords: false, progress: false, formats: ['webdataset'], log: () => undefined });
  let t0 = process.hrtime.bigint();
  let turn = 0;
  for await (const _ of run) {
    const b = seconds(t0);
    const f0 = process.hrtime.bigint();
    await sc.run(x, prompts);
    const f = seconds(f0);
    if (turn++ > 0) {
      tb.push(b);
      tf.push(f);
    }
    t0 = process.hrtime.bigint();
  }
  return { builder: 8 / median(tb), forward: 8 / median(tf), fraction: median(tf.map((f, i) => f / tb[i])) };
}

export async function benchBestOfN(opts: BenchBestOfNOptions = {}): Promise<Record<string, number>> {
  const log = opts.log ?? ((l: string) => process.stderr.write(l + '\n'));
  const runs = opts.runs ?? 6;
  const threads = opts.threads ?? os.cpus().length;
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'bestofn-bench-'));
  const out: Record<string, number> = { load_avg_1m_start: os.loadavg()[0] };
  try {
    const tiny = await openScorer(BUNDLED_CHECKPOINT, { engine: 'ort', threads, cacheDir: path.join(dir, 'cache'), log: () => undefined });
    try {
      if (!opts.skipMemory) {
        const c = await candidates(dir, 250, 256);
        const mb = () => process.resourceUsage().maxRSS / 1024;
        await throughput(tiny, c, path.join(dir, 'mem'), (done) => {
          if (done === 25) out.peak_rss_200_mb = mb();
        });
        out.peak_rss_2000_mb = mb();
        out.peak_rss_growth = out.peak_rss_2000_mb / out.peak_rss_200_mb - 1;
        log(`peak RSS after 200 candidates ${out.peak_rss_200_mb.toFixed(0)} MB, after 2000 ${out.peak_rss_2000_mb.toFixed(0)} MB (${(100 * out.peak_rss_growth).toFixed(1)} %)`);
      }
      const c = await candidates(dir, runs + 1, 256);
      out.bestofn_tiny_img_per_s = await throughput(tiny, c, path.join(dir, 'tiny'));
      log(`bundled checkpoint: ${out.bestofn_tiny_img_per_s.toFixed(2)} candidates/s through the builder (256 px, N = 8, batch 8)`);
    } finally {
      await tiny.dispose();
    }
    if (!opts.skipPreset) {
      const preset = opts.preset ?? 'paper';
      const exportDir = opts.exportDir ?? path.join(dir, 'int8');
      if (!fs.existsSync(exportDir) || !fs.readdirSync(exportDir).some((f) => f.endsWith('.rahf.json'))) {
        log(`exporting the ${preset} preset (random weights) with int8 MatMuls…`);
        const model = await RewardModel.fromPreset(preset, { seed: 0, tokenizer: path.join(BUNDLED_CHECKPOINT, 'tokenizer.json') });
        exportRahf(model, path.join(exportDir, 'model.onnx'), { quantize: 'int8', heatmaps: false, log: () => undefined });
        model.dispose();
      }
      const sc = await OnnxScorer.create(exportDir, { threads, batchSize: 8 });
      const size = sc.config.imageSize;
      try {
        const p = await paired(sc, await candidates(dir, runs + 1, size), path.join(dir, 'paper'));
        out.bestofn_img_per_s = p.builder;
        out.forward_bs8_int8_img_per_s = p.forward;
        out.bestofn_fraction_of_forward = p.fraction;
        log(`${preset} int8, batch 8: bare forward ${p.forward.toFixed(2)} images/s, builder ${p.builder.toFixed(2)} candidates/s (${(100 * p.fraction).toFixed(1)} % per turn)`);
        const big = await paired(sc, await candidates(dir, runs + 1, 512), path.join(dir, 'paper512'));
        out.bestofn_512px_img_per_s = big.builder;
        out.bestofn_512px_fraction_of_forward = big.fraction;
        log(`${preset} int8, 512×512 candidates: builder ${big.builder.toFixed(2)} candidates/s (${(100 * big.fraction).toFixed(1)} % of the bare forward per turn)`);
      } finally {
        await sc.dispose();
      }
    }
    out.load_avg_1m_end = os.loadavg()[0];
    return out;
  } finally {
    fs.rmSync(dir, { recursive: true, force: true });
  }
}

if (require.main === module) {
  const args = process.argv.slice(2);
  const value = (flag: string) => (args.includes(flag) ? args[args.indexOf(flag) + 1] : undefined);
  const runs = value('--runs');
  void benchBestOfN({ skipPreset: args.includes('--skip-preset'), skipMemory: args.includes('--skip-memory'), exportDir: value('--export-dir'), runs: runs ? Number(runs) : undefined }).then((r) => process.stdout.write(JSON.stringify(r, null, 1) + '\n'));
}
