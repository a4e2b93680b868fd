import type { Argv, CommandModule } from 'yargs';
import { collect } from '../queue/collect';
import { outputFromArgs, OutputArgs, outputOptions } from './build-options';
import { Common, guarded } from './guarded';
import { summaryLines } from './summary';

interface CollectArgs extends Common, OutputArgs {
  queue: string;
  name: string;
  progress: boolean;
}

/** `finetune collect`: the one writer of a queued run; returns when every prompt is written or failed. */
export const collectCommand: CommandModule<Common, CollectArgs> = {
  command: 'collect',
  describe: "write the workers' results into the datasets (run one; a rerun resumes)",
  builder: (y) =>
    outputOptions(y as Argv<Common>)
      .option('queue', { type: 'string', demandOption: true, describe: 'redis://host:port[/db]' })
      .option('name', { type: 'string', default: 'finetune', describe: 'queue name' })
      .option('progress', { type: 'boolean', default: true, describe: 'progress line on stderr' }) as unknown as Argv<CollectArgs>,
  handler: (argv) =>
    guarded(argv, async () => {
      const ac = new AbortController();
      process.once('SIGINT', () => ac.abort());
      process.once('SIGTERM', () => ac.abort());
      const s = await collect({ url: argv.queue, name: argv.name, ...outputFromArgs(argv), progress: argv.progress, signal: ac.signal });
      const lines = summaryLines(s);
      for (const f of s.failed.slice(0, 10)) lines.push(`failed: prompt ${JSON.stringify(f.id)}: ${f.reason}`);
      if (s.failed.length > 10) lines.push(`… ${s.failed.length - 10} more failed prompts`);
      if (s.failed.length) lines.push(`${s.failed.length} prompts failed every try: \`finetune enqueue … --retry-failed\` puts them back, then collect again`);
      process.stdout.write(lines.join('\n') + '\n');
      return s.failed.length ? 5 : 0;
    }),
};
