import * as fs from 'fs';
import * as path from 'path';
import { UserError, generateExample, type SynthTruth } from '@richhf/reward';
import { readSafetensors, writeSafetensors } from '@richhf/reward/io';
import { writeFileAtomic } from '@richhf/reward/util';
import { loadEncoder } from '../decoders/load';
import { TINY_AE_CONFIG, trainTinyAutoencoder } from './tiny-ae';

/*
 * The synthetic latent-diffusion world the proof runs in ("synth-ldm"), bundled in assets/synth-ldm/:
 *   vae/             a tiny AutoencoderTiny trained on synthetic-world images (tiny-ae.ts);
 *   latents.safetensors  the labelled set: K prompts × M renderings of the synthetic world (reward's
 *                    generateExample with `prompts: K`), encoded and scaled to unit variance, [N, 4, 16, 16];
 *   members.jsonl    each member's truth, from the world's truth.jsonl entry (scores, artifacts, misalignments);
 *   manifest.json    how it was made (the command that remakes it is `guide synth-ldm`).
 * Member i is rendering ⌊i / K⌋ of prompt i mod K, so every prompt has M members with different layouts,
 * defects and grades — a text-conditional set whose exact denoiser (empirical-denoiser.ts) is the "model".
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
  autoencoder: { seed: number; steps: number; batch: number; crop: number; lr: number; latentPenalty: number; mse: number; seconds: number };
  /** The noise schedule the sampler uses (Stable Diffusion's). */
  scheduler: Record<string, unknown>;
  prompts: string[];
  command: string;
}

export interface SynthLdm {
  dir: string;
  manifest: SynthLdmManifest;
  /** Scaled latents, [N, C, h, w]. */
  latents: Float32Array;
  members: Member[];
  vaeDir: string;
}

/** Stable Diffusion's DDIM configuration (scaled-linear betas 0.00085 → 0.012, 1000 steps). */
export const SD_SCHEDULE = Object.freeze({
  _class_name: 'DDIMScheduler',
  num_train_timesteps: 1000,
  beta_start: 0.00085,
  beta_end: 0.012,
  beta_schedule: 'scaled_linear',
  clip_sample: false,
  set_alpha_to_one: false,
  steps_offset: 1,
  timestep_spacing: 'leading',
  prediction_type: 'epsilon',
});

export function loadSynthLdm(dir = SYNTH_LDM_DIR): SynthLdm {
  const mf = path.join(dir, 'manifest.json');
  if (!fs.existsSync(mf)) throw new UserError(`${dir}: no manifest.json (a synth-ldm bundle; make one with \`guide synth-ldm --out ${dir}\`)`);
  const manifest = JSON.parse(fs.readFileSync(mf, 'utf8')) as SynthLdmManifest;
  if (manifest.version !== 1) throw new UserError(`${mf}: version ${String(manifest.version)} is not 1`);
  const lat = readSafetensors(path.join(dir, 'latents.safetensors')).get('latents');
  const n = manifest.latentShape.reduce((a, b) => a * b, 1);
  if (!lat || lat.data.length !== n) throw new UserError(`${dir}/latents.safetensors: expected a "latents" tensor of shape [${manifest.latentShape}]`);
  const members = fs.readFileSync(path.join(dir, 'members.jsonl'), 'utf8').split('\n').filter(Boolean).map((l) => JSON.parse(l) as Member);
  if (members.length !== manifest.latentShape[0]) throw new UserError(`${dir}/members.jsonl: ${members.length} members for ${manifest.latentShape[0]} latents`);
  return { dir, manifest, latents: lat.data as Float32Array, members, vaeDir: path.join(dir, 'vae') };
}

export interface BuildOptions {
  out: string;
  /** World seed of the labelled set (default 29) and of the autoencoder's training images (default 1029). */
  seed?: number;
  aeSeed?: number;
  prompts?: number;
  perPrompt?: number;
  /** Autoencoder training: steps, images per step (each gives `cropsPerImage` random crops), crop side. */
  aeSteps?: number;
  imagesPerStep?: number;
  cropsPerImage?: number;
  crop?: number;
  lr?: number;
  latentPenalty?: number;
  threads?: number;
  /** The autoencoder's resumable training state (default `<out>/vae.train`). */
  stateDir?: string;
  progress?: boolean;
  log?: (line: string) => void;
}

const SIZE = 128;

/** Random crops of freshly generated world images: step s uses images s·n … s·n + n − 1 (resumable, deterministic). */
function cropBatches(seed: number, images: number, crops: number, crop: number): (step: number) => Float32Array {
  return (step) => {
    const out = new Float32Array(images * crops * crop * crop * 3);
    let k = 0;
    for (let j = 0; j < images; j++) {
      const idx = step * images + j;
      const ex = generateExample({ seed, size: SIZE }, idx);
      let h = (Math.imul(idx + 1, 0x9e3779b1) ^ seed) >>> 0;
      for (let c = 0; c < crops; c++) {
        h = Math.imul(h ^ (h >>> 15), 0x2c1b3c6d) >>> 0;
        const y0 = (h & 0xffff) % (SIZE - crop + 1);
        const x0 = (h >>> 16) % (SIZE - crop + 1);
        for (let y = 0; y < crop; y++) {
          for (let x = 0; x < crop; x++) {
            const src = ((y0 + y) * SIZE + x0 + x) * 3;
            out[k++] = ex.rgb[src] / 255;
            out[k++] = ex.rgb[src + 1] / 255;
            out[k++] = ex.rgb[src + 2] / 255;
          }
        }
      }
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
  const M = o.perPrompt ?? 64;
  const ae = { steps: o.aeSteps ?? 3000, images: o.imagesPerStep ?? 4, crops: o.cropsPerImage ?? 4, crop: o.crop ?? 64, lr: o.lr ?? 2e-3, latentPenalty: o.latentPenalty ?? 1e-3 };
  for (const [k, v] of Object.entries({ prompts: K, perPrompt: M, aeSteps: ae.steps, imagesPerStep: ae.images, cropsPerImage: ae.crops })) {
    if (!Number.isInteger(v) || v < 1) throw new UserError(`${k} ${v}: expected an integer ≥ 1`);
  }
  if (!Number.isInteger(ae.crop) || ae.crop % 8 !== 0 || ae.crop > SIZE || ae.crop < 16) throw new UserError(`crop ${ae.crop}: expected a multiple of 8 from 16 to ${SIZE}`);
  const vaeDir = path.join(o.out, 'vae');
  log(`synth-ldm: training the autoencoder (${ae.steps} steps of ${ae.images * ae.crops} ${ae.crop}² crops) → ${vaeDir}`);
  const trained = await trainTinyAutoencoder({
    out: vaeDir,
    batchAt: cropBatches(aeSeed, ae.images, ae.crops, ae.crop),
    size: ae.crop,
    batch: ae.images * ae.crops,
    steps: ae.steps,
    lr: ae.lr,
    latentPenalty: ae.latentPenalty,
    seed: aeSeed,
    stateDir: o.stateDir,
    threads: o.threads,
    progress: o.progress,
    log,
  });

  log(`synth-ldm: rendering and encoding ${K} prompts × ${M} renderings (world seed ${seed})`);
  const set = await writeLabelledSet(o.out, vaeDir, { seed, prompts: K, perPrompt: M, threads: o.threads });
  const manifest: SynthLdmManifest = {
    version: 1,
    world: { seed, size: SIZE, prompts: K, perPrompt: M },
    latentShape: set.latentShape,
    scalingFactor: set.scalingFactor,
    autoencoder: { seed: aeSeed, steps: ae.steps, batch: ae.images * ae.crops, crop: ae.crop, lr: ae.lr, latentPenalty: ae.latentPenalty, mse: trained.mse, seconds: trained.seconds },
    scheduler: { ...SD_SCHEDULE },
    prompts: set.prompts,
    command: `pnpm guide synth-ldm --out ${o.out} --seed ${seed} --prompts ${K} --per-prompt ${M} --ae-steps ${ae.steps}`,
  };
  writeFileAtomic(path.join(o.out, 'manifest.json'), JSON.stringify(manifest, null, 2) + '\n');
  return manifest;
}

/**
 * The labelled set: K prompts × M renderings encoded by the autoencoder in `vaeDir` (whose config has
 * scaling_factor 1), scaled to unit variance — the factor is written into its config.json, as SD's VAE carries
 * 0.18215 — plus members.jsonl. Returns what the manifest records.
 */
export async function writeLabelledSet(out: string, vaeDir: string, o: { seed: number; prompts: number; perPrompt: number; threads?: number }) {
  const [seed, K, M] = [o.seed, o.prompts, o.perPrompt];
  const N = K * M;
  const enc = await loadEncoder(vaeDir, { threads: o.threads });
  const members: Member[] = [];
  const prompts: string[] = [];
  let latents: Float32Array | undefined;
  const B = 32;
  try {
    for (let i0 = 0; i0 < N; i0 += B) {
      const n = Math.min(B, N - i0);
      const px = new Float32Array(n * SIZE * SIZE * 3);
      for (let j = 0; j < n; j++) {
        const ex = generateExample({ seed, size: SIZE, prompts: K }, i0 + j);
        for (let q = 0; q < ex.rgb.length; q++) px[j * ex.rgb.length + q] = ex.rgb[q] / 255;
        const t = ex.truth;
        if (i0 + j < K) prompts.push(t.caption);
        members.push({
          index: i0 + j,
          uid: t.uid,
          prompt: (i0 + j) % K,
          caption: t.caption,
          truth: t.latent,
          artifacts: t.artifacts.map((a) => ({ type: a.type, severity: a.severity })),
          misalignments: t.misalignments.map((m) => m.type),
        });
      }
      const z = await enc.encode(px, [n, SIZE, SIZE, 3]);
      latents ??= new Float32Array(N * (z.length / n));
      latents.set(z, i0 * (z.length / n));
    }
  } finally {
    await enc.dispose();
  }
  let s2 = 0;
  for (const v of latents!) s2 += v * v;
  const scalingFactor = 1 / Math.sqrt(s2 / latents!.length);
  for (let i = 0; i < latents!.length; i++) latents![i] *= scalingFactor;
  const config = JSON.parse(fs.readFileSync(path.join(vaeDir, 'config.json'), 'utf8')) as Record<string, unknown>;
  writeFileAtomic(path.join(vaeDir, 'config.json'), JSON.stringify({ ...config, scaling_factor: scalingFactor }, null, 2) + '\n');
  const c = TINY_AE_CONFIG.latent_channels;
  const side = SIZE / 8;
  const latentShape: [number, number, number, number] = [N, c, side, side];
  writeSafetensors(path.join(out, 'latents.safetensors'), { latents: { dtype: 'float32', shape: latentShape, data: latents! } });
  writeFileAtomic(path.join(out, 'members.jsonl'), members.map((m) => JSON.stringify(m) + '\n').join(''));
  return { latentShape, scalingFactor, prompts };
}
