import type { Argv, CommandModule } from 'yargs';
import { buildAll } from '../builder';
import { generationFromArgs, GenerationArgs, generationOptions, outputFromArgs, OutputArgs, outputOptions } from './build-options';
import { Common, guarded } from './guarded';
import { summaryLines } from './summary';

interface BuildArgs extends Common, GenerationArgs, OutputArgs {
  prompts: string;
  limit?: number;
  progress: boolean;
}

/** `finetune build`: generate N candidates per prompt, score them, keep the best, write the datasets. */
export const buildCommand: CommandModule<Common, BuildArgs> = {
  command: 'build',
  describe: 'best-of-N finetune set: generate, score with RAHF, select, write webdataset / imagefolder / DPO parquet (resumable)',
  builder: (y) =>
    outputOptions(generationOptions(y as Argv<Common>))
      .option('prompts', { type: 'string', demandOption: true, describe: 'prompts file: .jsonl ({"id","prompt"} per line) or plain text (line n = id n)' })
      .option('limit', { type: 'number', describe: 'stop after this many prompts (a rerun continues)' })
      .option('progress', { type: 'boolean', default: true, describe: 'progress line on stderr' })
      .example('$0 build --prompts p.txt --generator folder:cands --n 8 --select plausibility --min 0.8 --format webdataset,imagefolder --out ds', '') as unknown as Argv<BuildArgs>,
  handler: (argv) =>
    guarded(argv, async () => {
      const s = await buildAll({ ...generationFromArgs(argv), ...outputFromArgs(argv), prompts: argv.prompts, limit: argv.limit, progress: argv.progress });
      process.stdout.write(summaryLines(s).join('\n') + '\n');
      return 0;
    }),
};
