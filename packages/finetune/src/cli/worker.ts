import type { Argv, CommandModule } from 'yargs';
import { checkWorkerOptions, runWorker } from '../queue/worker';
import { Common, guarded } from './guarded';

interface WorkerArgs extends Common {
  queue: string;
  name: string;
  concurrency: number;
  'lock-seconds': number;
  generator?: string;
  checkpoint?: string;
  engine?: string;
  threads?: number;
  'cache-dir'?: string;
}

/** `finetune worker`: generate and score queued prompts until stopped (SIGINT / SIGTERM finish the jobs in hand). */
export const workerCommand: CommandModule<Common, WorkerArgs> = {
  command: 'worker',
  describe: 'take prompts from the queue, generate and score them (run any number, on any machine)',
  builder: (y) =>
    (y as Argv<Common>)
      .option('queue', { type: 'string', demandOption: true, describe: 'redis://host:port[/db]' })
      .option('name', { type: 'string', default: 'finetune', describe: 'queue name' })
      .option('concurrency', { type: 'number', default: 1, describe: 'prompts in progress at once in this process' })
      .option('lock-seconds', { type: 'number', default: 30, describe: 'a dead worker’s prompt goes back to the queue after this long' })
      .option('generator', { type: 'string', describe: "this machine's generator, if not the enqueued one (e.g. its own a1111:URL)" })
      .option('checkpoint', { type: 'string', describe: "this machine's path of the run's checkpoint" })
      .option('engine', { type: 'string', choices: ['auto', 'ort', 'tfjs'] })
      .option('threads', { type: 'number', describe: 'onnxruntime threads' })
      .option('cache-dir', { type: 'string', describe: 'ONNX export cache' }) as unknown as Argv<WorkerArgs>,
  handler: (argv) =>
    guarded(argv, async () => {
      checkWorkerOptions({ concurrency: argv.concurrency, lockSeconds: argv['lock-seconds'] });
      const ac = new AbortController();
      const stop = () => ac.abort();
      process.once('SIGINT', stop);
      process.once('SIGTERM', stop);
      const scorer = Object.fromEntries(
        Object.entries({ checkpoint: argv.checkpoint, engine: argv.engine, threads: argv.threads, cacheDir: argv['cache-dir'] }).filter(([, v]) => v !== undefined),
      );
      const r = await runWorker({ url: argv.queue, name: argv.name, concurrency: argv.concurrency, lockSeconds: argv['lock-seconds'], generator: argv.generator, scorer, signal: ac.signal });
      process.stdout.write(`worker stopped: ${r.processed} prompts done, ${r.failed} failed tries\n`);
      return 0;
    }),
};
