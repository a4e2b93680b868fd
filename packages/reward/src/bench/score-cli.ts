import { spawn, spawnSync } from 'child_process';
import * as fs from 'fs';
import * as os from 'os';
import * as path from 'path';
import sharp from 'sharp';
import { BUNDLED_CHECKPOINT } from '../bundled';
import { OnnxScorer } from '../onnx/onnx-scorer';

/*
 * `rahf score` end to end, as a user runs it: the built CLI in its own process on a folder of 32 images
 * (512², half PNG, half JPEG), so decoding, preprocessing, the model and writing the JSON lines all
 * count. Each checkpoint is scored once with a cold export cache (the export happens then), and timed
 * on warm runs: images/s from the CLI's own summary (scoring only), the time from starting the process
 * to its engine line (the scorer is open: scoring starts) and to its first result, and the process's
 * peak RSS. For the paper preset in int8, the in-process batch-8 forward of the same cached graphs is
 * timed just before each CLI run, so the CLI's share of the bare forward is measured in the same
 * moments. A benchmark, never a test.
 */

const PROMPT = 'a photo of a red cat sitting on a blue sofa next to two green apples';
const CLI = path.resolve(__dirname, '..', 'cli', 'main.js');
const SUMMARY = /scored (\d+) of (\d+) image\(s\) in ([\d.]+) s, ([\d.]+) images\/s; opened in ([\d.]+) s; peak RSS (\d+) MB/;

export interface CliRun {
  wall_s: number;
  /** Process start → its engine line (the scorer is open). */
  open_s: number;
  /** Process start → its first JSON line. */
  first_result_s: number;
  img_per_s: number;
  peak_rss_mb: number;
  code: number | null;
}

async function writeImages(dir: string, n: number): Promise<void> {
  fs.mkdirSync(dir, { recursive: true });
  for (let i = 0; i < n; i++) {
    const w = 512;
    const px = Buffer.alloc(w * w * 3);
    for (let j = 0; j < px.length; j++) px[j] = (Math.sin(j * 0.0013 * (i + 1)) * 100 + ((j * 7 + i * 31) % 90) + (j % 3) * 40) & 255;
    const img = sharp(px, { raw: { width: w, height: w, channels: 3 } });
    await (i % 2 ? img.jpeg({ quality: 90 }) : img.png()).toFile(path.join(dir, `img-${String(i).padStart(2, '0')}.${i % 2 ? 'jpg' : 'png'}`));
  }
}

/** One `rahf score` process; resolves with its timings (the summary line must be there). */
function runCli(args: string[], env: NodeJS.ProcessEnv, log: (l: string) => void): Promise<CliRun> {
  return new Promise((resolve, reject) => {
    const t0 = process.hrtime.bigint();
    const since = () => Number(process.hrtime.bigint() - t0) / 1e9;
    const child = spawn(process.execPath, [CLI, 'score', ...args, '--progress'], { env: { ...process.env, ...env }, stdio: ['ignore', 'pipe', 'pipe'] });
    let first = NaN;
    let open = NaN;
    let stderr = '';
    child.stdout.on('data', () => (first = Number.isNaN(first) ? since() : first));
    child.stderr.on('data', (d: Buffer) => {
      stderr += d.toString();
      if (Number.isNaN(open) && /\brahf: engine /.test(stderr)) open = since();
    });
    child.on('error', reject);
    child.on('close', (code) => {
      const wall = since();
      const m = SUMMARY.exec(stderr);
      if (!m || code !== 0) return reject(new Error(`rahf score ${args.join(' ')}: exit ${code}\n${stderr.slice(-2000)}`));
      const r: CliRun = { wall_s: wall, open_s: open, first_result_s: first, img_per_s: Number(m[4]), peak_rss_mb: Number(m[6]), code };
      log(`  rahf score ${args.filter((a) => ['--int8', '--no-keywords', '--out'].includes(a)).join(' ') || '(defaults)'}: ${r.img_per_s.toFixed(2)} images/s, open after ${r.open_s.toFixed(1)} s, first result after ${r.first_result_s.toFixed(1)} s, wall ${wall.toFixed(1)} s, peak RSS ${r.peak_rss_mb} MB`);
      resolve(r);
    });
  });
}

const median = (a: number[]) => [...a].sort((x, y) => x - y)[Math.floor(a.length / 2)];

/** The batch-8 forward of a cached export, in this process: images/s (median of `runs` after a warm-up). */
async function forwardBs8(entry: string, threads: number, runs: number): Promise<number> {
  const sc = await OnnxScorer.create(entry, { threads });
  try {
    const s = sc.config.imageSize;
    const x = Float32Array.from({ length: 8 * s * s * 3 }, (_, i) => Math.sin(i * 0.37) * 0.9);
    const p = Array<string>(8).fill(PROMPT);
    await sc.run(x, p);
    const ts: number[] = [];
    for (let i = 0; i < runs; i++) {
      const t0 = process.hrtime.bigint();
      await sc.run(x, p);
      ts.push(Number(process.hrtime.bigint() - t0) / 1e9);
    }
    return 8 / median(ts);
  } finally {
    await sc.dispose();
  }
}

export interface ScoreCliBenchOptions {
  /** Warm CLI runs per configuration (default 2). */
  runs?: number;
  threads?: number;
  /** A paper-preset checkpoint to use (default: `rahf init --preset paper` into a temporary folder). */
  paperCheckpoint?: string;
  /** Skip the paper preset (its checkpoint is 1.6 GB and its exports take minutes). */
  skipPaper?: boolean;
  log?: (line: string) => void;
}

export async function benchScoreCli(opts: ScoreCliBenchOptions = {}): Promise<{ keys: Record<string, number>; details: Record<string, unknown> }> {
  const runs = opts.runs ?? 2;
  const threads = opts.threads ?? os.cpus().length;
  const log = opts.log ?? ((l: string) => process.stderr.write(l + '\n'));
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'rahf-score-cli-'));
  const keys: Record<string, number> = {};
  const details: Record<string, unknown> = { images: '32 × 512² (16 PNG, 16 JPEG)', threads, runs, load_avg_before: os.loadavg()[0] };
  try {
    const imgs = path.join(dir, 'imgs');
    await writeImages(imgs, 32);
    const env = { RAHF_CACHE_DIR: path.join(dir, 'cache') };
    const base = [imgs, '--prompt', PROMPT, '--threads', String(threads)];

    log('== rahf score, bundled tiny checkpoint, 32 images (defaults: scores and keywords)');
    const tinyCold = await runCli(base, env, log);
    const tiny: CliRun[] = [];
    for (let i = 0; i < runs; i++) tiny.push(await runCli(base, env, log));
    keys.score_cli_tiny_img_per_s = median(tiny.map((r) => r.img_per_s));
    keys.score_cli_tiny_open_s = median(tiny.map((r) => r.open_s));
    details.tiny = { checkpoint: BUNDLED_CHECKPOINT, cold: tinyCold, warm: tiny };

    if (!opts.skipPaper) {
      let ckpt = opts.paperCheckpoint;
      if (!ckpt) {
        ckpt = path.join(dir, 'paper');
        log('== rahf init --preset paper (random weights)');
        const r = spawnSync(process.execPath, [CLI, 'init', '--preset', 'paper', '--out', ckpt], { stdio: ['ignore', 'ignore', 'inherit'] });
        if (r.status !== 0) throw new Error(`rahf init --preset paper: exit ${r.status}`);
      }
      const paper = [...base.slice(0, 3), '--checkpoint', ckpt, '--threads', String(threads)];
      log('== rahf score, paper preset, int8, scores only (--int8 --no-keywords), 32 images');
      const cold = await runCli([...paper, '--int8', '--no-keywords'], env, log);
      const entry = fs.readdirSync(env.RAHF_CACHE_DIR).filter((f) => f.endsWith('-int8')).map((f) => path.join(env.RAHF_CACHE_DIR, f));
      // The entry of this checkpoint: the one whose manifest is the paper preset's (the tiny one is there too).
      const paperEntry = entry.find((e) => JSON.parse(fs.readFileSync(path.join(e, 'model.rahf.json'), 'utf8')).config.image_size === 224)!;
      const warm: CliRun[] = [];
      const fwd: number[] = [];
      for (let i = 0; i < runs; i++) {
        fwd.push(await forwardBs8(paperEntry, threads, 3));
        log(`  in-process forward, batch 8, int8: ${fwd[i].toFixed(2)} images/s`);
        warm.push(await runCli([...paper, '--int8', '--no-keywords'], env, log));
      }
      keys.score_cli_paper_int8_img_per_s = median(warm.map((r) => r.img_per_s));
      keys.score_cli_paper_int8_forward_bs8_img_per_s = median(fwd);
      keys.score_cli_paper_int8_fraction_of_forward = median(warm.map((r, i) => r.img_per_s / fwd[i]));
      keys.score_cli_paper_int8_open_s = median(warm.map((r) => r.open_s));
      keys.score_cli_paper_int8_peak_rss_mb = Math.max(...warm.map((r) => r.peak_rss_mb));
      keys.score_cli_paper_int8_cold_wall_s = cold.wall_s;

      // The heaviest scoring process: fp32, both heatmaps (--out) and keywords, on 4 images.
      log('== rahf score, paper preset, fp32, heatmaps and keywords (--out), 4 images');
      const four = path.join(dir, 'four');
      fs.mkdirSync(four);
      for (const f of fs.readdirSync(imgs).slice(0, 4)) fs.copyFileSync(path.join(imgs, f), path.join(four, f));
      const fp32 = [four, ...paper.slice(1), '--out', path.join(dir, 'out')];
      const fp32Cold = await runCli(fp32, env, log);
      const fp32Warm = await runCli(fp32, env, log);
      keys.score_cli_paper_peak_rss_mb = fp32Warm.peak_rss_mb;
      keys.score_cli_paper_open_s = fp32Warm.open_s;
      details.paper = { checkpoint: ckpt, int8: { cold, warm, forward_bs8_img_per_s: fwd }, fp32_heatmaps_keywords: { cold: fp32Cold, warm: fp32Warm } };
    }
    details.load_avg_after = os.loadavg()[0];
    return { keys, details };
  } finally {
    fs.rmSync(dir, { recursive: true, force: true });
  }
}
