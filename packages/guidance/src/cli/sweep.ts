import * as fs from 'fs';
import type { CommandModule } from 'yargs';
import { UserError, type EngineChoice, type ScoreName } from '@richhf/reward';
import { Progress, writeFileAtomic } from '@richhf/reward/util';
import { type VaeDecoder } from '../decoders/load';
import { rewardGuidance } from '../guidance/reward-guidance';
import { parseScales } from '../guidance/options';
import { StableDiffusion } from '../pipeline/stable-diffusion';
import { PROOF_DEFAULTS, runProof } from '../proof/proof';
import { sweepChartPng, type SweepRow } from '../proof/sweep-chart';
import { guarded, type Common } from './guarded';
import { guidanceFromArgv, guidanceOptions, guidanceSettings, openGuideDecoder, openReward, type GuidanceArgs, type GuidanceCliOptions } from './guidance-options';

/**
 * `guide sweep --scales 0,1,2,4,8`: the reward of guided samples against the guidance scale, as a PNG chart and
 * JSON lines. Without --model it runs in the bundled synthetic world, where the chart also draws the true overall
 * score and defect rate (src/proof); with --model it samples a Stable Diffusion folder at equal seeds per scale.
 */

export interface SweepOptions extends GuidanceCliOptions {
  scales: string;
  out?: string;
  model?: string;
  prompt?: string[];
  n?: number;
  steps?: number;
  cfg?: number;
  size?: number;
  seed?: number;
  seeds?: number;
  vae?: string;
  vaeEngine?: string;
  bundle?: string;
  threads?: number;
  offline?: boolean;
  progress?: boolean;
}

const int = (name: string, v: number | undefined, min: number) => {
  if (v !== undefined && !(Number.isInteger(v) && v >= min)) throw new UserError(`--${name} ${v}: expected an integer ≥ ${min}`);
  return v;
};

export async function runSweep(o: SweepOptions): Promise<number> {
  const scales = parseScales(o.scales, '--scales');
  if (o.scale !== undefined) throw new UserError('--scale: a sweep takes its scales from --scales');
  for (const [k, v] of [['n', o.n], ['steps', o.steps], ['seeds', o.seeds], ['threads', o.threads], ['size', o.size]] as const) int(k, v, 1);
  int('seed', o.seed, 0);
  const out = o.out ?? 'sweep.png';
  if (fs.existsSync(out) && fs.statSync(out).isDirectory()) throw new UserError(`--out ${out}: is a directory; give a .png file`);
  let rows: SweepRow[];
  let title: string;
  if (o.model === undefined) {
    for (const k of ['prompt', 'vae', 'guideVae', 'cfg', 'size', 'n'] as const) {
      if (o[k] !== undefined) throw new UserError(`--${k.replace(/[A-Z]/g, (c) => '-' + c.toLowerCase())}: only with --model (without it the sweep runs in the synthetic world)`);
    }
    let progress: Progress | undefined;
    let last = 0;
    const r = await runProof({
      seeds: o.seeds ?? 64,
      seed: o.seed,
      scale: scales.find((s) => s > 0) ?? 0,
      scales,
      steps: o.steps,
      weights: o.reward,
      heatmapPenalty: o.heatmapPenalty,
      window: guidanceSettings({ ...o, reward: o.reward ?? '' })?.window,
      normalize: o.normalize,
      clip: o.clip,
      recurrence: o.recurrence,
      checkpoint: o.rewardCheckpoint,
      engine: o.rewardEngine as EngineChoice | undefined,
      bundle: o.bundle,
      threads: o.threads,
      onProgress: (done, total) => {
        progress ??= new Progress(total, 'sweep', { enabled: o.progress !== false, unit: 'img' });
        progress.tick(done - last);
        last = done;
      },
    });
    rows = r.sweep.filter((p) => scales.includes(p.scale));
    title = `Synthetic world: reward and truth against scale (${r.n} seeds)`;
  } else {
    rows = await sdSweep(o, scales);
    title = `${o.model}: reward against scale`;
  }
  writeFileAtomic(out, await sweepChartPng(rows, { title }));
  for (const r of rows) process.stdout.write(JSON.stringify(r) + '\n');
  process.stderr.write(`guide: wrote ${out}\n`);
  return 0;
}

/** The same seeds at every scale through the pipeline's hook; each image scored by RAHF. */
async function sdSweep(o: SweepOptions, scales: number[]): Promise<SweepRow[]> {
  const settings = guidanceSettings({ ...o, reward: o.reward ?? '', scale: undefined });
  if (!settings) throw new Error('unreachable');
  const prompts = o.prompt ?? [];
  if (prompts.length === 0) throw new UserError('--prompt: required with --model');
  if (o.size !== undefined && o.size % 8 !== 0) throw new UserError(`--size ${o.size}: not a multiple of 8`);
  const { reward, scorer } = await openReward(o, o.threads, { scorer: true });
  let pipe: StableDiffusion | undefined;
  let decoder: VaeDecoder | undefined;
  try {
    pipe = await StableDiffusion.fromPretrained(o.model!, { vae: o.vae, vaeEngine: o.vaeEngine as 'ort' | 'tfjs' | undefined, threads: o.threads, offline: o.offline });
    decoder = await openGuideDecoder(o, o.threads, o.offline);
    if (decoder.latentChannels !== pipe.unet.inChannels) throw new UserError(`${o.guideVae ?? o.vae}: the guidance decoder takes ${decoder.latentChannels}-channel latents but ${pipe.folder.unet} makes ${pipe.unet.inChannels}`);
    const n = o.n ?? 4;
    const steps = o.steps ?? 25;
    const progress = new Progress(scales.length * prompts.length * steps, 'sweep', { enabled: o.progress !== false, unit: 'step' });
    const entries = Object.entries(settings.weights) as [ScoreName, number][];
    const norm = entries.reduce((a, [, w]) => a + Math.abs(w), 0);
    const rows: SweepRow[] = [];
    for (const scale of scales) {
      let sum = 0;
      let count = 0;
      for (const [p, prompt] of prompts.entries()) {
        const guide = rewardGuidance({ ...settings, scale, reward, decoder });
        const r = await pipe.generate({
          prompt,
          numImagesPerPrompt: n,
          seed: (o.seed ?? 0) + p * n,
          steps,
          guidanceScale: o.cfg ?? 7.5,
          height: o.size,
          width: o.size,
          hook: scale > 0 ? guide.hook : undefined,
          onProgress: () => progress.tick(1, `scale ${scale}`),
        });
        const texts = new Array<string>(n).fill(typeof settings.rewardPrompt === 'string' ? settings.rewardPrompt : prompt);
        const fb = await scorer!.score(r.images!, texts, { size: [r.imageShape![1], r.imageShape![2]] });
        for (const f of fb) sum += entries.reduce((a, [k, w]) => a + w * f.scores[k], 0) / norm;
        count += n;
      }
      rows.push({ scale, reward: sum / count });
    }
    return rows;
  } finally {
    await pipe?.dispose();
    await decoder?.dispose();
    await reward.dispose();
    await scorer?.dispose();
  }
}

/** The options as yargs gives them: SweepOptions with kebab-case names. */
interface SweepArgs extends Common, GuidanceArgs, Omit<SweepOptions, keyof GuidanceCliOptions | 'vaeEngine' | 'progress'> {
  'vae-engine'?: string;
  progress: boolean;
}

export const sweepCommand: CommandModule<Common, SweepArgs> = {
  command: 'sweep',
  describe: 'reward (and, in the synthetic world, truth) against the guidance scale, as a PNG chart',
  builder: (y) =>
    guidanceOptions(y)
      .option('scales', { type: 'string', demandOption: true, describe: 'comma-separated scales, e.g. 0,1,2,4,8' })
      .option('out', { type: 'string', describe: 'chart PNG (default sweep.png)' })
      .option('model', { type: 'string', describe: 'Stable Diffusion ONNX folder or hub id (default: the synthetic world)' })
      .option('prompt', { type: 'string', array: true, describe: 'with --model: prompt (repeat for several)' })
      .option('n', { type: 'number', describe: 'with --model: images per prompt and scale (default 4)' })
      .option('steps', { type: 'number', describe: `sampling steps (default 25 with --model, ${PROOF_DEFAULTS.steps} in the synthetic world)` })
      .option('cfg', { type: 'number', describe: 'with --model: classifier-free guidance scale (default 7.5)' })
      .option('size', { type: 'number', describe: 'with --model: image side in pixels' })
      .option('seed', { type: 'number', describe: 'first seed (default 0)' })
      .option('seeds', { type: 'number', describe: 'synthetic world: seeds per scale (default 64)' })
      .option('vae', { type: 'string', describe: 'with --model: decoder folder or hub id (also used for guidance)' })
      .option('vae-engine', { type: 'string', describe: 'ort (default) or tfjs' })
      .option('bundle', { type: 'string', describe: 'synth-ldm folder (default: the bundled one)' })
      .option('threads', { type: 'number' })
      .option('offline', { type: 'boolean' })
      .option('progress', { type: 'boolean', default: true }),
  handler: (argv) =>
    guarded(argv, () =>
      runSweep({
        ...guidanceFromArgv(argv),
        scales: argv.scales,
        out: argv.out,
        model: argv.model,
        prompt: argv.prompt?.map(String),
        n: argv.n,
        steps: argv.steps,
        cfg: argv.cfg,
        size: argv.size,
        seed: argv.seed,
        seeds: argv.seeds,
        vae: argv.vae,
        vaeEngine: argv['vae-engine'],
        bundle: argv.bundle,
        threads: argv.threads,
        offline: argv.offline,
        progress: argv.progress,
      }),
    ),
};
