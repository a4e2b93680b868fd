import * as fs from 'fs';
import type { CommandModule } from 'yargs';
import { UserError, type EngineChoice } from '@richhf/reward';
import { Progress, writeFileAtomic } from '@richhf/reward/util';
import { checkHeatmapPenalty, parseScales, parseWindow } from '../guidance/options';
import { decoderFidelity } from '../proof/fidelity';
import { PROOF_DEFAULTS, runProof, type ProofResult } from '../proof/proof';
import { sweepChartPng } from '../proof/sweep-chart';
import { guarded, type Common } from './guarded';

/**
 * `guide proof`: reward guidance against ground truth in the bundled synthetic latent-diffusion world —
 * unguided and guided samples at equal seeds, true quality from the world's labels, paired-bootstrap
 * intervals, and a sweep of scales (src/proof/proof.ts). `--json` prints the result object.
 */

export interface ProofCliOptions {
  json?: boolean;
  /** Print the reward–truth correlations on renderings and decoded latents instead of running the proof. */
  fidelity?: boolean;
  seed?: number;
  seeds?: number;
  scale?: number;
  scales?: string;
  steps?: number;
  reward?: string;
  heatmapPenalty?: number;
  window?: string;
  normalize?: boolean;
  clip?: number;
  recurrence?: number;
  jacobian?: string;
  rewardCheckpoint?: string;
  rewardEngine?: string;
  bundle?: string;
  chart?: string;
  threads?: number;
  progress?: boolean;
}

const pct = (x: number) => `${x >= 0 ? '+' : ''}${x.toFixed(3)}`;

export function formatProof(r: ProofResult): string {
  const d = r.delta;
  const row = (name: string, k: keyof ProofResult['delta'], u: number, g: number) =>
    `  ${name.padEnd(13)} ${u.toFixed(3)} → ${g.toFixed(3)}   ${pct(d[k].value)}  [${pct(d[k].lo)}, ${pct(d[k].hi)}]`;
  const lines = [
    `reward guidance in the synthetic world: ${r.n} seeds (${r.seeds.first}…${r.seeds.first + r.n - 1}), DDIM ${r.steps} steps, scale ${r.scale}, weights ${JSON.stringify(r.weights)}, ${JSON.stringify(r.settings)}`,
    `                unguided → guided   guided − unguided [95 % paired bootstrap]`,
    row('reward', 'reward', r.unguided.reward, r.guided.reward),
    row('plausibility', 'plausibility', r.unguided.truth.plausibility, r.guided.truth.plausibility),
    row('alignment', 'alignment', r.unguided.truth.alignment, r.guided.truth.alignment),
    row('aesthetics', 'aesthetics', r.unguided.truth.aesthetics, r.guided.truth.aesthetics),
    row('overall', 'overall', r.unguided.truth.overall, r.guided.truth.overall),
    row('defect rate', 'defect_rate', r.unguided.truth.defect_rate, r.guided.truth.defect_rate),
    `sweep (scale: reward / true overall [its change, 95 %] / true defect rate / samples off the set / largest distance to a member):`,
    ...r.sweep.map((p) => `  ${String(p.scale).padStart(6)}: ${p.reward.toFixed(3)} / ${p.truth_overall.toFixed(3)} [${pct(p.delta_overall.lo)}, ${pct(p.delta_overall.hi)}] / ${p.truth_defect_rate.toFixed(3)} / ${p.off_set} / ${p.max_distance.toPrecision(2)}`),
    r.hacking.hacked_scales.length
      ? `reward hacking: true overall peaks at scale ${r.hacking.truth_peak_scale}; at ${r.hacking.hacked_scales.join(', ')} the reward is higher and the truth lower`
      : `true overall peaks at scale ${r.hacking.truth_peak_scale} of the sweep; no larger scale has both a higher reward and a lower truth`,
    `samples end ${r.convergence.median_distance.toFixed(3)} (median; max ${r.convergence.max_distance.toFixed(3)}) from their nearest member; members are ${r.convergence.member_spacing.toFixed(3)} apart (median), latents ${r.convergence.latent_norm.toFixed(1)} long`,
  ];
  if (r.skipped) lines.push(`${r.skipped} image-steps had a non-finite reward gradient and were left unguided`);
  return lines.join('\n');
}

export async function runProofCommand(o: ProofCliOptions): Promise<number> {
  const int = (name: string, v: number | undefined, min: number) => {
    if (v !== undefined && !(Number.isInteger(v) && v >= min)) throw new UserError(`--${name} ${v}: expected an integer ≥ ${min}`);
    return v;
  };
  int('seed', o.seed, 0);
  int('seeds', o.seeds, 2);
  int('steps', o.steps, 1);
  int('threads', o.threads, 1);
  if (o.scale !== undefined && !(Number.isFinite(o.scale) && o.scale >= 0)) throw new UserError(`--scale ${o.scale}: expected a finite number ≥ 0`);
  checkHeatmapPenalty(o.heatmapPenalty, '--heatmap-penalty');
  if (o.rewardEngine !== undefined && !['auto', 'ort', 'tfjs'].includes(o.rewardEngine)) throw new UserError(`--reward-engine ${o.rewardEngine}: expected auto, ort or tfjs`);
  if (o.chart !== undefined && fs.existsSync(o.chart) && fs.statSync(o.chart).isDirectory()) throw new UserError(`--chart ${o.chart}: is a directory; give a .png file`);
  if (o.fidelity) {
    const f = await decoderFidelity({ bundle: o.bundle, checkpoint: o.rewardCheckpoint, engine: o.rewardEngine as EngineChoice | undefined, weights: o.reward, threads: o.threads });
    process.stdout.write(JSON.stringify(f, null, o.json ? 2 : undefined) + '\n');
    return 0;
  }
  const scales = o.scales === undefined ? undefined : parseScales(o.scales, '--scales');
  const window = o.window === undefined ? undefined : parseWindow(o.window, '--window');
  let progress: Progress | undefined;
  let last = 0;
  const r = await runProof({
    seed: o.seed,
    seeds: o.seeds,
    scale: o.scale,
    scales,
    steps: o.steps,
    weights: o.reward,
    heatmapPenalty: o.heatmapPenalty,
    window,
    normalize: o.normalize,
    clip: o.clip,
    recurrence: o.recurrence,
    jacobian: o.jacobian as 'forward' | 'model' | undefined,
    checkpoint: o.rewardCheckpoint,
    engine: o.rewardEngine as EngineChoice | undefined,
    bundle: o.bundle,
    threads: o.threads,
    onProgress: (done, total) => {
      progress ??= new Progress(total, 'proof', { enabled: o.progress !== false, unit: 'img' });
      progress.tick(done - last);
      last = done;
    },
  });
  if (o.chart) writeFileAtomic(o.chart, await sweepChartPng(r.sweep, { title: `Reward guidance in the synthetic world (${r.n} seeds)` }));
  process.stdout.write((o.json ? JSON.stringify(r, null, 2) : formatProof(r)) + '\n');
  return 0;
}

/** The options as yargs gives them: ProofCliOptions with the kebab-case names. */
interface ProofArgs extends Common, Omit<ProofCliOptions, 'rewardCheckpoint' | 'rewardEngine' | 'heatmapPenalty' | 'progress'> {
  'heatmap-penalty'?: number;
  'reward-checkpoint'?: string;
  'reward-engine'?: string;
  progress: boolean;
}

export const proofCommand: CommandModule<Common, ProofArgs> = {
  command: 'proof',
  describe: 'reward guidance against ground truth in the bundled synthetic world (guided vs unguided at equal seeds, and a scale sweep)',
  builder: (y) =>
    y
      .option('json', { type: 'boolean', describe: 'print the result as one JSON object' })
      .option('fidelity', { type: 'boolean', describe: "instead: the reward's correlation with the truth on renderings and on decoded latents" })
      .option('seed', { type: 'number', describe: 'first seed (default 0): seeds S … S + n − 1' })
      .option('seeds', { type: 'number', describe: `number of seeds (default ${PROOF_DEFAULTS.seeds})` })
      .option('scale', { type: 'number', describe: `scale of the guided run (default ${PROOF_DEFAULTS.scale})` })
      .option('scales', { type: 'string', describe: `the sweep (default ${PROOF_DEFAULTS.scales.join(',')})` })
      .option('steps', { type: 'number', describe: `DDIM steps (default ${PROOF_DEFAULTS.steps})` })
      .option('reward', { type: 'string', describe: 'score weights (default aesthetics=1,overall=1)' })
      .option('heatmap-penalty', { type: 'number', describe: `λ ≥ 0 of the implausibility-heatmap penalty (default ${PROOF_DEFAULTS.heatmapPenalty}; 0 = off)` })
      .option('window', { type: 'string', describe: 'guided steps FROM:TO or sigma=MIN:MAX (default 0:0.4)' })
      .option('normalize', { type: 'boolean', describe: 'normalise the gradient to the ε prediction’s norm (default on; --no-normalize)' })
      .option('jacobian', { type: 'string', describe: `model (the exact denoiser's Jacobian, default) or forward (ε held constant, the library default)` })
      .option('clip', { type: 'number', describe: 'cap the gradient’s root-mean-square' })
      .option('recurrence', { type: 'number', describe: 'self-recurrence k' })
      .option('reward-checkpoint', { type: 'string', describe: 'RAHF checkpoint (default: the bundled one)' })
      .option('reward-engine', { type: 'string', describe: 'auto (default), ort or tfjs' })
      .option('bundle', { type: 'string', describe: 'synth-ldm folder (default: the bundled assets/synth-ldm)' })
      .option('chart', { type: 'string', describe: 'also write the sweep chart to this PNG' })
      .option('threads', { type: 'number', describe: 'onnxruntime threads (default: one per core)' })
      .option('progress', { type: 'boolean', default: true, describe: 'progress line on stderr' }),
  handler: (argv) =>
    guarded(argv, () =>
      runProofCommand({
        json: argv.json,
        fidelity: argv.fidelity,
        seed: argv.seed,
        seeds: argv.seeds,
        scale: argv.scale,
        scales: argv.scales,
        steps: argv.steps,
        reward: argv.reward,
        heatmapPenalty: argv['heatmap-penalty'],
        window: argv.window,
        normalize: argv.normalize,
        clip: argv.clip,
        recurrence: argv.recurrence,
        jacobian: argv.jacobian,
        rewardCheckpoint: argv['reward-checkpoint'],
        rewardEngine: argv['reward-engine'],
        bundle: argv.bundle,
        chart: argv.chart,
        threads: argv.threads,
        progress: argv.progress,
      }),
    ),
};
