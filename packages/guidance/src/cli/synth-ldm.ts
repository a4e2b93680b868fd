import type { CommandModule } from 'yargs';
import { UserError } from '@richhf/reward';
import { buildSynthLdm } from '../proof/bundle';
import { guarded, type Common } from './guarded';

/**
 * `guide synth-ldm`: (re)make the synthetic latent-diffusion bundle the proof runs in — train the tiny
 * autoencoder on synthetic-world images (resumable: rerun the same command after an interruption), then render,
 * encode and label the K × M set (src/proof/bundle.ts).
 */

interface SynthLdmArgs extends Common {
  out: string;
  seed?: number;
  'ae-seed'?: number;
  prompts?: number;
  'per-prompt'?: number;
  'ae-steps'?: number;
  'state-dir'?: string;
  threads?: number;
  progress: boolean;
}

export const synthLdmCommand: CommandModule<Common, SynthLdmArgs> = {
  command: 'synth-ldm',
  describe: "make the proof's synthetic latent-diffusion bundle (tiny autoencoder + labelled latent set)",
  builder: (y) =>
    y
      .option('out', { type: 'string', demandOption: true, describe: 'bundle folder (the shipped one is packages/guidance/assets/synth-ldm)' })
      .option('seed', { type: 'number', describe: 'world seed of the labelled set (default 29)' })
      .option('ae-seed', { type: 'number', describe: "world seed of the autoencoder's training images (default 1029)" })
      .option('prompts', { type: 'number', describe: 'distinct prompts K (default 8)' })
      .option('per-prompt', { type: 'number', describe: 'renderings per prompt M (default 48)' })
      .option('ae-steps', { type: 'number', describe: 'autoencoder training steps (default 3000)' })
      .option('state-dir', { type: 'string', describe: "the autoencoder's resumable training state (default <out>/ae.train)" })
      .option('threads', { type: 'number', describe: 'onnxruntime threads (default: one per core)' })
      .option('progress', { type: 'boolean', default: true, describe: 'progress line on stderr' }),
  handler: (argv) =>
    guarded(argv, async () => {
      if (argv.threads !== undefined && !(Number.isInteger(argv.threads) && argv.threads > 0)) throw new UserError(`--threads ${argv.threads}: expected an integer ≥ 1`);
      const m = await buildSynthLdm({
        out: argv.out,
        seed: argv.seed,
        aeSeed: argv['ae-seed'],
        prompts: argv.prompts,
        perPrompt: argv['per-prompt'],
        aeSteps: argv['ae-steps'],
        stateDir: argv['state-dir'],
        threads: argv.threads,
        progress: argv.progress,
      });
      process.stdout.write(JSON.stringify({ out: argv.out, latentShape: m.latentShape, scalingFactor: m.scalingFactor, autoencoderMse: m.autoencoder.mse }) + '\n');
      return 0;
    }),
};
