import type { Argv, CommandModule } from 'yargs';
import type { Common } from './guarded';
import { generatorEvalCommand } from './generator-eval';
import { generatorTrainCommand } from './generator-train';

/** `finetune generator train | eval`: the synthetic world's scene-token masked transformer. */
export const generatorCommand: CommandModule<Common, Common> = {
  command: 'generator <command>',
  describe: "the synthetic world's masked-transformer scene generator: train (or finetune) it, measure what it makes",
  builder: (y) => (y as Argv<Common>).command(generatorTrainCommand).command(generatorEvalCommand).demandCommand(1, 'name a generator command: train, eval'),
  handler: () => undefined,
};
