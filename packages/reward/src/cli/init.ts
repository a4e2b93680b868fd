import * as fs from 'fs';
import * as path from 'path';
import { RewardModel } from '../rahf/model';
import { UserError } from '../errors';
import { guarded, rahfCommand } from './command';
import { checkInt, checkOutDir } from './validate';

export interface InitOptions {
  preset: string;
  out: string;
  seed?: number;
  vit?: string;
  t5?: string;
}

/** `rahf init`: materialise a preset as a checkpoint directory others can score with or train from. */
export async function runInit(opts: InitOptions): Promise<number> {
  checkOutDir('out', opts.out);
  checkInt('seed', opts.seed, 0);
  if (fs.existsSync(path.join(opts.out, 'model.safetensors'))) {
    throw new UserError(`${opts.out}: already holds a checkpoint (model.safetensors); choose another --out`);
  }
  const model = await RewardModel.fromPreset(opts.preset, { seed: opts.seed, vit: opts.vit, t5: opts.t5 });
  await model.save(opts.out);
  model.dispose();
  process.stderr.write(`rahf: wrote ${opts.preset} checkpoint to ${opts.out}\n`);
  return 0;
}

export const initCommand = rahfCommand({
  command: 'init',
  describe: 'write a RAHF checkpoint from a preset (random init, or ViT/T5 parts from HF checkpoints)',
  builder: (y) =>
    y
      .option('preset', { type: 'string', choices: ['tiny', 'paper', 'large384'], default: 'tiny' })
      .option('out', { type: 'string', demandOption: true })
      .option('seed', { type: 'number', default: 0 })
      .option('vit', { type: 'string', describe: 'HF ViT checkpoint (dir or hub id) to initialise the image encoder' })
      .option('t5', { type: 'string', describe: 'HF T5 checkpoint (dir or hub id) to initialise the text encoder/decoder' }),
  handler: (argv) => guarded(argv, () => runInit({ preset: argv.preset, out: argv.out, seed: argv.seed, vit: argv.vit, t5: argv.t5 })),
});
