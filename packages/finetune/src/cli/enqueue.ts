import type { Argv, CommandModule } from 'yargs';
import { enqueuePrompts } from '../queue/enqueue';
import { generationFromArgs, GenerationArgs, generationOptions } from './build-options';
import { Common, guarded } from './guarded';

interface EnqueueArgs extends Common, GenerationArgs {
  queue: string;
  name: string;
  prompts: string;
  attempts: number;
  'retry-failed': boolean;
}

/** `finetune enqueue`: put a run's prompts and settings on a BullMQ queue for `worker` and `collect`. */
export const enqueueCommand: CommandModule<Common, EnqueueArgs> = {
  command: 'enqueue',
  describe: 'put prompts on a Redis (BullMQ) queue for any number of `finetune worker` processes',
  builder: (y) =>
    generationOptions(y as Argv<Common>)
      .option('queue', { type: 'string', demandOption: true, describe: 'redis://host:port[/db]' })
      .option('name', { type: 'string', default: 'finetune', describe: 'queue name (one run per name)' })
      .option('prompts', { type: 'string', demandOption: true, describe: 'prompts file (.jsonl or plain text)' })
      .option('attempts', { type: 'number', default: 3, describe: 'tries per prompt before it counts as failed' })
      .option('retry-failed', { type: 'boolean', default: false, describe: 'put prompts whose tries ran out back on the queue' }) as unknown as Argv<EnqueueArgs>,
  handler: (argv) =>
    guarded(argv, async () => {
      const g = generationFromArgs(argv);
      const r = await enqueuePrompts({
        url: argv.queue, name: argv.name, prompts: argv.prompts, attempts: argv.attempts, retryFailed: argv['retry-failed'],
        generator: argv.generator, generatorOptions: g.generatorOptions, n: g.n, seed: g.seed, select: argv.select, min: g.min, top: g.top,
        pairs: g.pairs, margin: g.margin, keywords: g.keywords, scorer: g.scorer as never, batchSize: g.batchSize,
      });
      process.stdout.write(
        `queue "${argv.name}" at ${argv.queue}: ${r.added} prompts added, ${r.already - r.collected} already queued, ${r.collected} already collected` +
          (r.retried ? `, ${r.retried} failed ones retried` : '') + ` (${r.spec.prompts} in the run)\n`,
      );
      return 0;
    }),
};
