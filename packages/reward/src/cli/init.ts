import * as fs from 'fs';
import * as path from 'path';
import { RewardModel } from '../rahf/model';
import { UserError } from './errors';

export interface InitOptions {
  preset: string;
  out: string;
  seed?: number;
  vit?: string;
  t5?: string;
}

/** `rahf init`: materialise a preset as a checkpoint directory others can score with or train from. */
export async function runInit(opts: InitOptions): Promise<number> {
  if (fs.existsSync(path.join(opts.out, 'model.safetensors'))) {
    throw new UserError(`${opts.out}: already holds a checkpoint (model.safetensors); choose another --out`);
  }
  const model = await RewardModel.fromPreset(opts.preset, { seed: opts.seed, vit: opts.vit, t5: opts.t5 });
  await model.save(opts.out);
  model.dispose();
  process.stderr.write(`rahf: wrote ${opts.preset} checkpoint to ${opts.out}\n`);
  return 0;
}
