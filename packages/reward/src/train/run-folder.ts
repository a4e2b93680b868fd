/*
 * A training run's folder:
 *   RUN/metrics.jsonl                  one JSON line per step ({step, lr, loss, heatmap, score, keywords,
 *                                      grad_norm, elapsed, img_per_s}) and per dev evaluation ({split: "dev", …})
 *   RUN/checkpoints/step-000500/       config.json, model.safetensors, tokenizer files (a loadable RAHF
 *                                      checkpoint), optimizer.safetensors (AdamW moments), trainer_state.json
 *   RUN/checkpoints/latest             name of the newest complete checkpoint
 *   RUN/model/                         the final model (what `rahf eval --checkpoint RUN/model` reads)
 * Checkpoints are written into a temporary folder and renamed into place, so a crash never leaves a
 * half-written one.
 */
import * as fs from 'fs';
import * as path from 'path';
import { readSafetensors, writeSafetensors } from '../io/safetensors';
import { TensorMap } from '../io/tensors';
import { RewardModel } from '../rahf/model';
import { writeFileAtomic } from '../util/atomic';
import { TrainOptions } from './options';

/** What either optimizer (optimizer.ts AdamW, host-adamw.ts HostAdamW) writes into a checkpoint. */
interface OptimizerState {
  state(): Promise<TensorMap>;
}

export interface TrainerState {
  step: number;
  elapsed: number;
  seed: number;
  /** The run's options (a resumed run keeps them; only steps, minutes, cooldown and engine may change). */
  options: TrainOptions;
  /** Batches and augmentations are keyed by (seed, step): this is the whole RNG state. */
  rng: { seed: number; next_step: number };
  optimizer: { step: number; beta1: number; beta2: number; eps: number; weight_decay: number };
}

export const CKPT_DIR = 'checkpoints';
export const LATEST = 'latest';
const STATE_FILE = 'trainer_state.json';
const OPT_FILE = 'optimizer.safetensors';

function ckptName(step: number): string {
  return `step-${String(step).padStart(6, '0')}`;
}

/** The newest complete checkpoint of a run folder, if any. */
export function latestCheckpoint(run: string): string | undefined {
  const f = path.join(run, CKPT_DIR, LATEST);
  if (!fs.existsSync(f)) return undefined;
  const dir = path.join(run, CKPT_DIR, fs.readFileSync(f, 'utf8').trim());
  return fs.existsSync(path.join(dir, STATE_FILE)) ? dir : undefined;
}

export function readTrainerState(ckpt: string): TrainerState {
  const file = path.join(ckpt, STATE_FILE);
  try {
    return JSON.parse(fs.readFileSync(file, 'utf8')) as TrainerState;
  } catch (e) {
    throw new Error(`${file}: cannot read trainer state (${(e as Error).message.split('\n')[0]})`);
  }
}

/** Write model + optimizer + state into a temp folder, rename it into place, point `latest` at it, prune. */
export async function saveCheckpoint(run: string, model: RewardModel, opt: OptimizerState, state: TrainerState, keep: number): Promise<string> {
  const root = path.join(run, CKPT_DIR);
  const name = ckptName(state.step);
  const dir = path.join(root, name);
  const tmp = path.join(root, `.tmp-${name}-${process.pid}`);
  fs.rmSync(tmp, { recursive: true, force: true });
  await model.save(tmp);
  writeSafetensors(path.join(tmp, OPT_FILE), await opt.state(), { format: 'pt' });
  writeFileAtomic(path.join(tmp, STATE_FILE), JSON.stringify(state, null, 2) + '\n');
  fs.rmSync(dir, { recursive: true, force: true });
  fs.renameSync(tmp, dir);
  writeFileAtomic(path.join(root, LATEST), name + '\n');
  const all = fs
    .readdirSync(root)
    .filter((f) => /^step-\d+$/.test(f))
    .sort();
  for (const old of all.slice(0, Math.max(0, all.length - keep))) fs.rmSync(path.join(root, old), { recursive: true, force: true });
  return dir;
}

/** Save the model alone to RUN/model (temp folder + rename). */
export async function saveFinal(run: string, model: RewardModel): Promise<string> {
  const dir = path.join(run, 'model');
  const tmp = path.join(run, `.tmp-model-${process.pid}`);
  fs.rmSync(tmp, { recursive: true, force: true });
  await model.save(tmp);
  fs.rmSync(dir, { recursive: true, force: true });
  fs.renameSync(tmp, dir);
  return dir;
}

/** Keep the metrics log consistent with a resumed step: drop lines logged after it. */
export function truncateMetrics(file: string, step: number): void {
  if (!fs.existsSync(file)) return;
  const keep = fs
    .readFileSync(file, 'utf8')
    .split('\n')
    .filter((l) => {
      if (!l.trim()) return false;
      try {
        return (JSON.parse(l) as { step: number }).step <= step;
      } catch {
        return false;
      }
    });
  writeFileAtomic(file, keep.map((l) => l + '\n').join(''));
}

/** The optimizer moments saved with a checkpoint. */
export function readOptimizerState(ckpt: string): TensorMap {
  return readSafetensors(path.join(ckpt, OPT_FILE));
}

