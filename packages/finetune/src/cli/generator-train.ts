import type { Argv, CommandModule } from 'yargs';
import { UserError } from '@richhf/reward';
import { formatDuration } from '@richhf/reward/util';
import { cachedWorldSequences, defaultCacheDir, keptSequences } from '../synth/data';
import { trainGenerator } from '../synth/train';
import { Common, guarded, listOption } from './guarded';

interface TrainArgs extends Common {
  out: string;
  steps: number;
  minutes?: number;
  resume: boolean;
  kept?: string[];
  replay: number;
  trainable?: string;
  'rest-lr': number;
  init?: string;
  'world-seed': number;
  scenes: number;
  batch: number;
  lr: number;
  warmup?: number;
  hidden: number;
  layers: number;
  heads: number;
  ff: number;
  'prompt-dropout': number;
  seed: number;
  threads?: number;
  'checkpoint-every': number;
  progress: boolean;
  'cache-dir': string;
}

/** `finetune generator train`: train the scene generator on the world, or finetune it on kept sets. */
export const generatorTrainCommand: CommandModule<Common, TrainArgs> = {
  command: 'train',
  describe: "train the scene generator on the world's training split (or finetune a checkpoint on best-of-N kept sets); resumable",
  builder: (y) =>
    (y as Argv<Common>)
      .option('out', { type: 'string', demandOption: true, describe: 'run folder: the checkpoint (config.json, model.safetensors) and the state to resume' })
      .option('steps', { type: 'number', default: 8000, describe: 'optimiser steps in all' })
      .option('minutes', { type: 'number', describe: 'stop after this many minutes (rerun with --resume to go on)' })
      .option('resume', { type: 'boolean', default: false, describe: 'continue the run in --out' })
      .option('kept', { type: 'string', array: true, describe: 'finetune on these `finetune build --generator synth` outputs (comma list) instead of the world' })
      .option('replay', { type: 'number', default: 0, describe: "with --kept: the world's training scenes (--world-seed, --scenes) per kept sample in each batch, against self-training drift" })
      .option('trainable', { type: 'string', describe: 'train only the parameters whose names match this regular expression (e.g. "head\\.bias|final_ln")' })
      .option('rest-lr', { type: 'number', default: 0, describe: 'with --trainable: learning-rate factor of the other parameters (0: frozen)' })
      .option('init', { type: 'string', describe: 'start from this checkpoint ("bundled": the shipped one); default fresh weights, or bundled with --kept' })
      .option('world-seed', { type: 'number', default: 0, describe: 'world whose training split is learned' })
      .option('scenes', { type: 'number', default: 50000, describe: 'training-split scenes of the world' })
      .option('cache-dir', { type: 'string', default: defaultCacheDir(), describe: 'where the encoded world scenes are kept between runs' })
      .option('batch', { type: 'number', default: 64 })
      .option('lr', { type: 'number', default: 1e-3, describe: 'peak learning rate (warm-up, then cosine to 10 %)' })
      .option('warmup', { type: 'number', describe: 'warm-up steps (default 5 % of --steps, at most 500)' })
      .option('hidden', { type: 'number', default: 64, describe: 'model width (new runs)' })
      .option('layers', { type: 'number', default: 4 })
      .option('heads', { type: 'number', default: 4 })
      .option('ff', { type: 'number', default: 256, describe: 'MLP width' })
      .option('prompt-dropout', { type: 'number', default: 0.1, describe: 'share of sequences trained without the prompt (classifier-free guidance)' })
      .option('seed', { type: 'number', default: 0 })
      .option('threads', { type: 'number', describe: 'onnxruntime threads' })
      .option('checkpoint-every', { type: 'number', default: 250 })
      .option('progress', { type: 'boolean', default: true }) as unknown as Argv<TrainArgs>,
  handler: (a) =>
    guarded(a, async () => {
      const kept = a.kept ? listOption(a.kept) : undefined;
      if (!(Number.isFinite(a.replay) && a.replay >= 0)) throw new UserError(`--replay must be a number ≥ 0, got ${a.replay}`);
      if (a.replay > 0 && !kept) throw new UserError('--replay mixes the world into a finetune: it needs --kept');
      const data = kept ? await keptSequences(kept) : cachedWorldSequences(a['cache-dir'], a['world-seed'], a.scenes);
      const replay = a.replay > 0 ? { data: cachedWorldSequences(a['cache-dir'], a['world-seed'], a.scenes), ratio: a.replay } : undefined;
      const r = await trainGenerator({
        out: a.out, data, steps: a.steps, minutes: a.minutes, resume: a.resume, init: a.init ?? (kept ? 'bundled' : undefined),
        model: { hidden_size: a.hidden, num_layers: a.layers, num_heads: a.heads, intermediate_size: a.ff },
        replay, trainable: a.trainable, restLrScale: a['rest-lr'], batch: a.batch, lr: a.lr, warmup: a.warmup, promptDropout: a['prompt-dropout'], seed: a.seed, threads: a.threads,
        checkpointEvery: a['checkpoint-every'], progress: a.progress,
      });
      process.stdout.write(
        `${r.done ? 'trained' : 'stopped'} at step ${r.step} of ${a.steps} in ${formatDuration(r.seconds)}; masked-token loss ${r.loss.toFixed(4)} (last 50 steps)\n` +
          `checkpoint: ${r.out} (config.json, model.safetensors)${r.done ? '' : `; rerun with --resume to go on`}\n`,
      );
      return 0;
    }),
};
