import * as fs from 'fs';
import * as path from 'path';
import { UserError, generateExample, type SynthTruth } from '@richhf/reward';
import { writeFileAtomic } from '@richhf/reward/util';
import { PatchAutoencoder, trainPatchAutoencoder } from './patch-ae';

/*
 * The synthetic latent-diffusion world the proof runs in ("synth-ldm"), bundled in assets/synth-ldm/ (~150 kB):
 *   ae/            the autoencoder (patch-ae.ts) trained on synthetic-world images, with its scaling factor;
 *   members.jsonl  the labelled set's truth: K prompts × M renderings of the synthetic world (reward's
 *                  generateExample with `prompts: K`), each with its truth.jsonl scores, artifacts, misalignments;
 *   manifest.json  how it was made (`guide synth-ldm` remakes it) and the sampler's noise schedule.
 * Member i is rendering ⌊i / K⌋ of prompt i mod K, so every prompt has M members with different layouts,
 * defects and grades — a text-conditional set whose exact denoiser (empirical-denoiser.ts) is the "model".
 * The set's latents ([N, 4, 64, 64], 25 MB as float32) are not stored: loading renders the members again with
 * the world's generator (deterministic, ~2 s) and encodes them, after checking each rendering's truth against
 * members.jsonl — so a change of the world's renderer is an error naming the bundle, not a silent mismatch.
 */

export const SYNTH_LDM_DIR = path.resolve(__dirname, '../../assets/synth-ldm');

export interface Member {
  index: number;
  uid: string;
  /** Prompt number (index mod K) and its caption. */
  prompt: number;
  caption: string;
  /** The world's exact latent scores. */
  truth: SynthTruth['latent'];
  artifacts: Array<{ type: string; severity: number }>;
  misalignments: string[];
}

export interface SynthLdmManifest {
  version: 1;
  world: { seed: number; size: number; prompts: number; perPrompt: number };
  latentShape: [number, number, number, number];
  scalingFactor: number;
  autoencoder: { seed: number; steps: number; batch: number; lr: number; mse: number; seconds: number };
  /** The noise schedule the sampler uses (WORLD_SCHEDULE). */
  scheduler: Record<string, unknown>;
  prompts: string[];
  command: string;
}

export interface SynthLdm {
  dir: string;
  manifest: SynthLdmManifest;
  /** Scaled latents of the members, [N, C, h, w]. */
  latents: Float32Array;
  members: Member[];
  /** The autoencoder (its decoder is what guidance differentiates). */
  ae: PatchAutoencoder;
}

/**
 * The world's noise schedule: DDPM's linear betas (1e-4 → 0.02), whose first steps reach σ ≈ 60–160 where the
 * posterior over a prompt's members is still broad; with Stable Diffusion's scaled-linear betas (σ ≤ 14.6) the
 * exact denoiser of 16 384-dimensional latents has picked its member before the first step is over, and guidance
 * has nothing left to choose. `set_alpha_to_one` makes DDIM's last step return x̂₀ itself, so a sample is exactly
 * the member it converged to.
 */
export const WORLD_SCHEDULE = Object.freeze({
  _class_name: 'DDIMScheduler',
  num_train_timesteps: 1000,
  beta_start: 0.0001,
  beta_end: 0.02,
  beta_schedule: 'linear',
  clip_sample: false,
  set_alpha_to_one: true,
  steps_offset: 1,
  timestep_spacing: 'leading',
  prediction_type: 'epsilon',
});

/** The bundle, with the members rendered again and encoded (see the file header). */
export async function loadSynthLdm(dir = SYNTH_LDM_DIR, opts: { threads?: number } = {}): Promise<SynthLdm> {
  const mf = path.join(dir, 'manifest.json');
  if (!fs.existsSync(mf)) throw new UserError(`${dir}: no manifest.json (a synth-ldm bundle; make one with \`guide synth-ldm --out ${dir}\`)`);
  const manifest = JSON.parse(fs.readFileSync(mf, 'utf8')) as SynthLdmManifest;
  if (manifest.version !== 1) throw new UserError(`${mf}: version ${String(manifest.version)} is not 1`);
  const members = fs.readFileSync(path.join(dir, 'members.jsonl'), 'utf8').split('\n').filter(Boolean).map((l) => JSON.parse(l) as Member);
  if (members.length !== manifest.latentShape[0]) throw new UserError(`${dir}/members.jsonl: ${members.length} members; the manifest says ${manifest.latentShape[0]}`);
  const ae = PatchAutoencoder.load(path.join(dir, 'ae'), opts);
  const { seed, size, prompts } = manifest.world;
  const latents = await encodeWorld(ae, seed, size, prompts, members.length, (i, t) => {
    const m = members[i];
    const same = t.caption === m.caption && (Object.keys(m.truth) as (keyof SynthTruth['latent'])[]).every((k) => t.latent[k] === m.truth[k]);
    if (!same) throw new UserError(`${dir}/members.jsonl: member ${i} (${m.uid}) no longer matches the synthetic world's rendering of it (the world's generator changed); remake the bundle with \`${manifest.command}\``);
  });
  return { dir, manifest, latents, members, ae };
}

/** Renders examples 0 … n − 1 of the world (prompts: K) and encodes them; `each` sees every truth. */
async function encodeWorld(ae: PatchAutoencoder, seed: number, size: number, K: number, n: number, each: (i: number, t: SynthTruth) => void): Promise<Float32Array> {
  let latents: Float32Array | undefined;
  const B = 32;
  for (let i0 = 0; i0 < n; i0 += B) {
    const b = Math.min(B, n - i0);
    const px = new Float32Array(b * size * size * 3);
    for (let j = 0; j < b; j++) {
      const ex = generateExample({ seed, size, prompts: K }, i0 + j);
      for (let q = 0; q < ex.rgb.length; q++) px[j * ex.rgb.length + q] = ex.rgb[q] / 255;
      each(i0 + j, ex.truth);
    }
    const z = await ae.encode(px, [b, size, size, 3]);
    latents ??= new Float32Array(n * (z.length / b));
    latents.set(z, i0 * (z.length / b));
  }
  return latents!;
}

export interface BuildOptions {
  out: string;
  /** World seed of the labelled set (default 29) and of the autoencoder's training images (default 1029). */
  seed?: number;
  aeSeed?: number;
  prompts?: number;
  perPrompt?: number;
  /** Autoencoder training steps and images per step. */
  aeSteps?: number;
  batch?: number;
  lr?: number;
  threads?: number;
  /** The autoencoder's resumable training state (default `<out>/ae.train`). */
  stateDir?: string;
  progress?: boolean;
  log?: (line: string) => void;
}

const SIZE = 128;

/** World images s·n … s·n + n − 1 for step s (deterministic, so training resumes exactly). */
function worldBatches(seed: number, n: number): (step: number) => Float32Array {
  return (step) => {
    const out = new Float32Array(n * SIZE * SIZE * 3);
    for (let j = 0; j < n; j++) {
      const rgb = generateExample({ seed, size: SIZE }, step * n + j).rgb;
      for (let q = 0; q < rgb.length; q++) out[j * rgb.length + q] = rgb[q] / 255;
    }
    return out;
  };
}

/** Train the autoencoder (resuming), encode the labelled set, and write the bundle. */
export async function buildSynthLdm(o: BuildOptions): Promise<SynthLdmManifest> {
  const log = o.log ?? ((l: string) => process.stderr.write(l + '\n'));
  const seed = o.seed ?? 29;
  const aeSeed = o.aeSeed ?? 1029;
  const K = o.prompts ?? 8;
  const M = o.perPrompt ?? 48;
  const ae = { steps: o.aeSteps ?? 3000, batch: o.batch ?? 8, lr: o.lr ?? 1e-2 };
  for (const [k, v] of Object.entries({ prompts: K, perPrompt: M, aeSteps: ae.steps, batch: ae.batch })) {
    if (!Number.isInteger(v) || v < 1) throw new UserError(`${k} ${v}: expected an integer ≥ 1`);
  }
  if (!(ae.lr > 0)) throw new UserError(`lr ${ae.lr}: expected a number > 0`);
  log(`synth-ldm: training the autoencoder (${ae.steps} steps of ${ae.batch} images)`);
  const trained = await trainPatchAutoencoder({
    batchAt: worldBatches(aeSeed, ae.batch),
    batch: ae.batch,
    size: SIZE,
    steps: ae.steps,
    lr: ae.lr,
    seed: aeSeed,
    threads: o.threads,
    stateDir: o.stateDir ?? path.join(o.out, 'ae.train'),
    progress: o.progress,
    log,
  });
  log(`synth-ldm: rendering and encoding ${K} prompts × ${M} renderings (world seed ${seed})`);
  const set = await writeLabelledSet(o.out, trained.ae, { seed, prompts: K, perPrompt: M });
  await trained.ae.dispose();
  const manifest: SynthLdmManifest = {
    version: 1,
    world: { seed, size: SIZE, prompts: K, perPrompt: M },
    latentShape: set.latentShape,
    scalingFactor: set.scalingFactor,
    autoencoder: { seed: aeSeed, steps: ae.steps, batch: ae.batch, lr: ae.lr, mse: trained.mse, seconds: trained.seconds },
    scheduler: { ...WORLD_SCHEDULE },
    prompts: set.prompts,
    command: `pnpm guide synth-ldm --out ${o.out} --seed ${seed} --prompts ${K} --per-prompt ${M} --ae-steps ${ae.steps}`,
  };
  writeFileAtomic(path.join(o.out, 'manifest.json'), JSON.stringify(manifest, null, 2) + '\n');
  return manifest;
}

/**
 * The labelled set: K prompts × M renderings encoded by `ae` (scaling factor 1) to find the factor that scales
 * them to unit variance — it goes into the saved autoencoder's config, as SD's VAE carries 0.18215 — and
 * members.jsonl with each member's truth.
 */
export async function writeLabelledSet(out: string, ae: PatchAutoencoder, o: { seed: number; prompts: number; perPrompt: number }) {
  const [seed, K, M] = [o.seed, o.prompts, o.perPrompt];
  const members: Member[] = [];
  const prompts: string[] = [];
  const latents = await encodeWorld(ae, seed, SIZE, K, K * M, (i, t) => {
    if (i < K) prompts.push(t.caption);
    members.push({
      index: i,
      uid: t.uid,
      prompt: i % K,
      caption: t.caption,
      truth: t.latent,
      artifacts: t.artifacts.map((a) => ({ type: a.type, severity: a.severity })),
      misalignments: t.misalignments.map((m) => m.type),
    });
  });
  let s2 = 0;
  for (const v of latents) s2 += v * v;
  const scalingFactor = 1 / Math.sqrt(s2 / latents.length);
  ae.withScaling(scalingFactor).save(path.join(out, 'ae'));
  const side = SIZE / ae.factor;
  const latentShape: [number, number, number, number] = [K * M, ae.latentChannels, side, side];
  writeFileAtomic(path.join(out, 'members.jsonl'), members.map((m) => JSON.stringify(m) + '\n').join(''));
  return { latentShape, scalingFactor, prompts };
}
