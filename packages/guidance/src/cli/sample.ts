import { randomInt } from 'crypto';
import * as fs from 'fs';
import * as path from 'path';
import type { CommandModule } from 'yargs';
import { UserError, type RewardGradient, type Scorer, type ScoreName } from '@richhf/reward';
import { Progress, writeFileAtomic } from '@richhf/reward/util';
import { parseSchedulerName, SCHEDULER_NAMES, type SchedulerName } from '../schedulers';
import { encodePng } from '../pipeline/png';
import { StableDiffusion } from '../pipeline/stable-diffusion';
import { type VaeDecoder } from '../decoders/load';
import { rewardGuidance, type GuidanceSettings } from '../guidance/reward-guidance';
import { guarded, type Common } from './guarded';
import { guidanceFromArgv, guidanceOptions, guidanceSettings, openGuideDecoder, openReward, type GuidanceArgs, type GuidanceCliOptions } from './guidance-options';
import { sideBySidePng } from './side-by-side';

/**
 * `guide sample`: text to images with a Stable Diffusion ONNX folder. Each prompt's images are one batch; each
 * image is a PNG plus one JSON line (stdout and <out>/images.jsonl) with its prompt, seed and settings. With a
 * fixed --seed, file names are fixed too, so a rerun skips the images already written (resume).
 * With --reward the sampler is RAHF-guided (the pipeline's hook) and each record carries the image's RAHF
 * scores; --compare also samples the same seed unguided and writes both side by side.
 */

export interface SampleOptions extends GuidanceCliOptions {
  /** With guidance: also the unguided image at the same seed, and a side-by-side PNG. */
  compare?: boolean;
  model: string;
  prompt?: string[];
  /** A text file, one prompt per non-empty line. */
  prompts?: string;
  negative?: string;
  steps?: number;
  scheduler?: string;
  cfg?: number;
  eta?: number;
  seed?: number;
  size?: number;
  width?: number;
  height?: number;
  /** Images per prompt. */
  n?: number;
  vae?: string;
  vaeEngine?: string;
  out?: string;
  threads?: number;
  offline?: boolean;
  progress?: boolean;
}

export interface ImageRecord {
  file: string;
  prompt: string;
  negative: string;
  seed: number;
  steps: number;
  scheduler: SchedulerName;
  cfg: number;
  eta?: number;
  width: number;
  height: number;
  model: string;
  vae?: string;
  /** RAHF scores of the image (with --reward). */
  scores?: Record<ScoreName, number>;
  guidance?: { weights: Record<string, number>; heatmapPenalty?: number; scale: number; window?: string; recurrence: number; normalize: boolean; clip?: number; rewardPrompt?: string; skipped: number };
  /** With --compare: the unguided image at the same seed and its scores, and the side-by-side picture. */
  unguided?: { file: string; scores: Record<ScoreName, number> };
  compare?: string;
}

function int(name: string, v: number | undefined, min: number): number | undefined {
  if (v === undefined) return undefined;
  if (!Number.isInteger(v) || v < min) throw new UserError(`--${name} ${v}: expected an integer ≥ ${min}`);
  return v;
}

function side(name: string, v: number | undefined): number | undefined {
  int(name, v, 8);
  if (v !== undefined && v % 8 !== 0) throw new UserError(`--${name} ${v}: not a multiple of 8`);
  return v;
}

function readPrompts(o: SampleOptions): string[] {
  const prompts = [...(o.prompt ?? [])];
  if (o.prompts !== undefined) {
    let text: string;
    try {
      text = fs.readFileSync(o.prompts, 'utf8');
    } catch (e) {
      throw new UserError(`--prompts ${o.prompts}: cannot read (${(e as NodeJS.ErrnoException).code ?? e})`);
    }
    const lines = text.split('\n').map((l) => l.trim()).filter(Boolean);
    if (lines.length === 0) throw new UserError(`--prompts ${o.prompts}: no prompts (one per line)`);
    prompts.push(...lines);
  }
  if (prompts.length === 0) throw new UserError('--prompt: required (or --prompts FILE)');
  return prompts;
}

export async function runSample(o: SampleOptions): Promise<number> {
  // Every option checked before a model is loaded or a file written.
  const steps = int('steps', o.steps ?? 50, 1)!;
  const n = int('n', o.n ?? 1, 1)!;
  const scheduler = o.scheduler === undefined ? undefined : parseSchedulerName(o.scheduler, '--scheduler');
  const cfg = o.cfg ?? 7.5;
  if (!Number.isFinite(cfg)) throw new UserError(`--cfg ${o.cfg}: expected a number`);
  if (o.eta !== undefined && !(o.eta >= 0)) throw new UserError(`--eta ${o.eta}: expected a number ≥ 0`);
  int('seed', o.seed, 0);
  int('threads', o.threads, 1);
  side('size', o.size);
  const height = side('height', o.height) ?? o.size;
  const width = side('width', o.width) ?? o.size;
  if (o.vaeEngine !== undefined && o.vaeEngine !== 'ort' && o.vaeEngine !== 'tfjs') throw new UserError(`--vae-engine ${o.vaeEngine}: expected ort or tfjs`);
  const prompts = readPrompts(o);
  const out = o.out ?? 'guide-out';
  if (fs.existsSync(out) && !fs.statSync(out).isDirectory()) throw new UserError(`--out ${out}: not a directory`);
  const settings = guidanceSettings(o);
  if (o.compare && !settings) throw new UserError('--compare: compares guided with unguided images; add --reward');

  // The reward first: a checkpoint that cannot load fails before any model is read.
  let reward: RewardGradient | undefined;
  let scorer: Scorer | undefined;
  let guideDecoder: VaeDecoder | undefined;
  if (settings) ({ reward, scorer } = await openReward(o, o.threads, { scorer: true }));
  let pipe: StableDiffusion | undefined;
  try {
    pipe = await StableDiffusion.fromPretrained(o.model, {
      scheduler,
      vae: o.vae,
      vaeEngine: o.vaeEngine as 'ort' | 'tfjs' | undefined,
      threads: o.threads,
      offline: o.offline,
    });
    let decoder: VaeDecoder | undefined;
    if (settings) {
      // --vae's decoder (loadDecoder's, differentiable) serves guidance too unless --guide-vae names another.
      const pipeDecoder = pipe.decoder as Partial<VaeDecoder> | undefined;
      if (o.guideVae === undefined && o.vae !== undefined && typeof pipeDecoder?.decodeVjp === 'function') decoder = pipeDecoder as VaeDecoder;
      else decoder = guideDecoder = await openGuideDecoder(o, o.threads, o.offline);
      if (decoder.latentChannels !== pipe.unet.inChannels) {
        throw new UserError(`${o.guideVae ?? o.vae}: the guidance decoder takes ${decoder.latentChannels}-channel latents but ${pipe.folder.unet} makes ${pipe.unet.inChannels}`);
      }
    }
    return await sampleWith(o, pipe, { steps, n, scheduler, cfg, prompts, out, height, width }, settings && { settings, reward: reward!, scorer: scorer!, decoder: decoder! });
  } finally {
    await pipe?.dispose();
    await guideDecoder?.dispose();
    await reward?.dispose();
    await scorer?.dispose();
  }
}

interface Guided {
  settings: GuidanceSettings;
  reward: RewardGradient;
  scorer: Scorer;
  decoder: VaeDecoder;
}

async function sampleWith(
  o: SampleOptions,
  pipe: StableDiffusion,
  p: { steps: number; n: number; scheduler: SchedulerName | undefined; cfg: number; prompts: string[]; out: string; height?: number; width?: number },
  guided: Guided | undefined,
): Promise<number> {
  const { steps, n, scheduler, cfg, prompts, out, height, width } = p;
  {
    if (pipe.schedulerNote) process.stderr.write(`guide: note: ${pipe.schedulerNote}\n`);
    const size = pipe.defaultSize;
    const [h, w] = [height ?? size.height, width ?? size.width];
    const baseSeed = o.seed ?? randomInt(0, 2 ** 31);
    const schedulerName = scheduler ?? pipe.scheduler.name;

    // Resume: records already in images.jsonl whose PNG exists are kept, and their prompts skipped.
    fs.mkdirSync(out, { recursive: true });
    const jsonl = path.join(out, 'images.jsonl');
    const records = new Map<string, ImageRecord>();
    if (fs.existsSync(jsonl)) {
      for (const line of fs.readFileSync(jsonl, 'utf8').split('\n').filter(Boolean)) {
        try {
          const r = JSON.parse(line) as ImageRecord;
          if (typeof r.file === 'string' && fs.existsSync(r.file)) records.set(r.file, r);
        } catch {
          throw new UserError(`${jsonl}: a line is not JSON; move the file away to start afresh`);
        }
      }
    }
    const plan = prompts.map((prompt, p) => {
      const seeds = Array.from({ length: n }, (_, k) => baseSeed + p * n + k);
      const files = seeds.map((s, k) => path.join(out, `${String(p).padStart(4, '0')}-${k}-s${s}.png`));
      const extra = (f: string, tag: string) => f.replace(/\.png$/, `-${tag}.png`);
      const needed = (f: string) => [f, ...(o.compare ? [extra(f, 'unguided'), extra(f, 'compare')] : [])];
      return { prompt, seeds, files, extra, done: files.every((f) => records.has(f) && needed(f).every((x) => fs.existsSync(x))) };
    });
    const todo = plan.filter((x) => !x.done);
    const runs = o.compare ? 2 : 1;
    const progress = new Progress(todo.length * steps * runs, 'sample', { enabled: o.progress !== false, unit: 'step' });
    let written = 0;
    const s = guided?.settings;
    const scoresOf = async (images: Float32Array, shape: [number, number, number, number], texts: string[]) => {
      const fb = await guided!.scorer.score(images, texts, { size: [shape[1], shape[2]] });
      return fb.map((f) => Object.fromEntries(Object.entries(f.scores).map(([k, v]) => [k, Math.round(v * 1e4) / 1e4])) as Record<ScoreName, number>);
    };
    for (const [j, item] of todo.entries()) {
      const generate = (hook?: ReturnType<typeof rewardGuidance>) =>
        pipe.generate({
          prompt: item.prompt,
          negativePrompt: o.negative,
          numImagesPerPrompt: n,
          seed: item.seeds,
          steps,
          guidanceScale: cfg,
          eta: o.eta,
          scheduler,
          height: h,
          width: w,
          hook: hook?.hook,
          onProgress: () => progress.tick(1, `prompt ${j + 1}/${todo.length}${hook ? ' (guided)' : ''}`),
        });
      const guide = s && rewardGuidance({ ...s, reward: guided!.reward, decoder: guided!.decoder });
      const base = o.compare ? await generate() : undefined;
      const result = await generate(guide);
      const texts = new Array<string>(n).fill(typeof s?.rewardPrompt === 'string' ? s.rewardPrompt : item.prompt);
      const scores = guided ? await scoresOf(result.images!, result.imageShape!, texts) : undefined;
      const baseScores = base ? await scoresOf(base.images!, base.imageShape!, texts) : undefined;
      for (let k = 0; k < n; k++) {
        const file = item.files[k];
        writeFileAtomic(file, await encodePng(result.images!, result.imageShape!, k));
        const record: ImageRecord = {
          file,
          prompt: item.prompt,
          negative: o.negative ?? '',
          seed: item.seeds[k],
          steps,
          scheduler: schedulerName,
          cfg,
          ...(o.eta !== undefined ? { eta: o.eta } : {}),
          width: result.imageShape![2],
          height: result.imageShape![1],
          model: o.model,
          ...(o.vae !== undefined ? { vae: o.vae } : {}),
        };
        if (guide && s && scores) {
          record.scores = scores[k];
          record.guidance = {
            weights: s.weights as Record<string, number>,
            ...(s.heatmapPenalty > 0 ? { heatmapPenalty: s.heatmapPenalty } : {}),
            scale: s.scale as number,
            ...(o.window !== undefined ? { window: o.window } : {}),
            recurrence: s.recurrence,
            normalize: s.normalize,
            ...(s.clip !== undefined ? { clip: s.clip } : {}),
            ...(typeof s.rewardPrompt === 'string' ? { rewardPrompt: s.rewardPrompt } : {}),
            skipped: guide.stats.skipped,
          };
        }
        if (base && baseScores) {
          const uf = item.extra(file, 'unguided');
          writeFileAtomic(uf, await encodePng(base.images!, base.imageShape!, k));
          record.unguided = { file: uf, scores: baseScores[k] };
          record.compare = item.extra(file, 'compare');
          writeFileAtomic(record.compare, await sideBySidePng([base.images!, result.images!], result.imageShape!, k));
        }
        records.set(file, record);
        process.stdout.write(JSON.stringify(record) + '\n');
        written++;
      }
      writeFileAtomic(jsonl, [...records.values()].map((r) => JSON.stringify(r) + '\n').join(''));
    }
    const skipped = plan.length - todo.length;
    process.stderr.write(`guide: wrote ${written} image${written === 1 ? '' : 's'} to ${out}${skipped ? ` (${skipped * n} already there, skipped)` : ''}\n`);
    return 0;
  }
}

interface SampleArgs extends Common, GuidanceArgs {
  compare?: boolean;
  model: string;
  prompt?: string[];
  prompts?: string;
  negative?: string;
  steps: number;
  scheduler?: string;
  cfg: number;
  eta?: number;
  seed?: number;
  size?: number;
  width?: number;
  height?: number;
  n: number;
  vae?: string;
  'vae-engine'?: string;
  out: string;
  threads?: number;
  offline?: boolean;
  progress: boolean;
}

export const sampleCommand: CommandModule<Common, SampleArgs> = {
  command: 'sample',
  describe: 'generate images with a Stable Diffusion ONNX folder (optimum layout) or hub id',
  builder: (y) =>
    guidanceOptions(y)
      .option('model', { type: 'string', demandOption: true, describe: 'optimum ONNX folder (model_index.json, unet/, text_encoder/, …) or hub id' })
      .option('prompt', { type: 'string', array: true, describe: 'prompt (repeat for several)' })
      .option('prompts', { type: 'string', describe: 'text file, one prompt per line' })
      .option('negative', { type: 'string', describe: 'negative prompt for every image' })
      .option('steps', { type: 'number', default: 50 })
      .option('scheduler', { type: 'string', describe: `${SCHEDULER_NAMES.join(' | ')} (default: the folder's scheduler config)` })
      .option('cfg', { type: 'number', default: 7.5, describe: 'classifier-free guidance scale (≤ 1: off)' })
      .option('eta', { type: 'number', describe: "DDIM's η (default 0)" })
      .option('seed', { type: 'number', describe: 'seed of the first image; image i gets seed + i (default: random, printed)' })
      .option('size', { type: 'number', describe: 'width and height in pixels, a multiple of 8 (default: the model’s)' })
      .option('width', { type: 'number' })
      .option('height', { type: 'number' })
      .option('n', { type: 'number', default: 1, describe: 'images per prompt' })
      .option('vae', { type: 'string', describe: 'diffusers VAE folder or hub id to decode with (AutoencoderKL, TAESD) instead of vae_decoder/' })
      .option('vae-engine', { type: 'string', describe: 'ort (default) or tfjs, for --vae' })
      .option('out', { type: 'string', default: 'guide-out', describe: 'folder for the PNGs and images.jsonl' })
      .option('threads', { type: 'number', describe: 'onnxruntime threads (default: one per core)' })
      .option('offline', { type: 'boolean', describe: 'never download (also HF_HUB_OFFLINE=1)' })
      .option('progress', { type: 'boolean', default: true, describe: 'per-step progress line on stderr' })
      .option('compare', { type: 'boolean', describe: 'with --reward: also the unguided image at the same seed, and both side by side' })
      .group(['reward', 'heatmap-penalty', 'scale', 'window', 'recurrence', 'normalize', 'clip', 'reward-prompt', 'reward-checkpoint', 'reward-engine', 'guide-vae', 'decode-downscale', 'compare'], 'RAHF reward guidance:'),
  handler: (argv) =>
    guarded(argv, () =>
      runSample({
        ...guidanceFromArgv(argv),
        compare: argv.compare,
        model: argv.model,
        prompt: argv.prompt?.map(String),
        prompts: argv.prompts,
        negative: argv.negative,
        steps: argv.steps,
        scheduler: argv.scheduler,
        cfg: argv.cfg,
        eta: argv.eta,
        seed: argv.seed,
        size: argv.size,
        width: argv.width,
        height: argv.height,
        n: argv.n,
        vae: argv.vae,
        vaeEngine: argv['vae-engine'],
        out: argv.out,
        threads: argv.threads,
        offline: argv.offline,
        progress: argv.progress,
      }),
    ),
};
