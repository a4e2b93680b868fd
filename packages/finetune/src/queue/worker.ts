import { UserError, type Scorer } from '@richhf/reward';
import { UnrecoverableError, Worker } from 'bullmq';
import { openScorerSpec, ScorerSpec } from '../builder';
import { GeneratorError, type Generator } from '../generator';
import { openGenerator } from '../generators/open';
import { candidateSeeds } from '../ids';
import { finishLot } from '../results';
import { decodeCandidates, dropImageCache, scoreGroups } from '../scoring';
import { parseSelect } from '../selection';
import { connectionFor, openQueue, QueueTarget } from './connection';
import { encodeResult, JobResult, PromptJob } from './payload';
import { readSpec } from './spec';

export interface WorkerOptions extends QueueTarget {
  /** Prompts processed at once by this process (default 1; the scorer batches each prompt's N). */
  concurrency?: number;
  /** Seconds a job's lock lasts without renewal: a killed worker's job is retried after about this long (default 30). */
  lockSeconds?: number;
  /** This machine's own generator URL/folder or checkpoint path, when they differ from the enqueuer's. */
  generator?: string;
  scorer?: ScorerSpec;
  /** A scorer to use (tests), not disposed. */
  scorerInstance?: Scorer;
  log?: (line: string) => void;
  /** Stops the worker (it finishes its active jobs first). */
  signal?: AbortSignal;
}

/**
 * A queue worker: takes prompts from the queue, generates and scores their candidates, selects, and returns the
 * kept samples (images included) as the job's result for `collect`. Runs until `signal` aborts. A job whose
 * worker dies mid-way keeps its lock only `lockSeconds`; BullMQ's stalled-job check then puts it back on the
 * queue for another worker.
 */
export async function runWorker(o: WorkerOptions): Promise<{ processed: number; failed: number }> {
  const log = o.log ?? ((l: string) => process.stderr.write(l + '\n'));
  const q = await openQueue(o);
  const spec = await readSpec(q, o.url).finally(() => q.close());
  const genSpec = o.generator ?? spec.generator;
  dropImageCache();
  const generator: Generator = await openGenerator(genSpec, spec.generatorOptions);
  let scorer: Scorer | undefined;
  try {
    scorer = o.scorerInstance ?? (await openScorerSpec({ ...spec.scorer, ...o.scorer }, log));
    const sel = { mix: parseSelect(spec.select), min: spec.min ?? undefined, top: spec.top, pairs: spec.pairs, margin: spec.margin };
    const lockMs = (o.lockSeconds ?? 30) * 1000;
    let processed = 0;
    let failed = 0;
    let images = 0;
    const t0 = Date.now();
    const worker = new Worker<PromptJob, JobResult>(
      o.name ?? 'finetune',
      async (job) => {
        const p = job.data;
        const req = { promptId: p.id, promptKey: p.key, prompt: p.prompt, n: spec.n, seeds: candidateSeeds(spec.seed, p.id, spec.n) };
        let cands;
        try {
          cands = await generator.generate(req);
        } catch (e) {
          // A refusal (HTTP 4xx, a workflow error, garbage) will not change on a retry: fail the prompt now.
          if (e instanceof GeneratorError && !e.retryable) throw new UnrecoverableError(e.message);
          throw e;
        }
        if (cands.length === 0) throw new GeneratorError(`${generator.kind} generator returned no images for prompt ${JSON.stringify(p.id)}`);
        const decoded = await decodeCandidates(req, cands);
        async function* one() {
          yield { req, candidates: decoded };
        }
        let result: JobResult | undefined;
        for await (const lot of scoreGroups(one(), scorer!, spec.batchSize)) {
          const [f] = await finishLot(lot, scorer!, sel, spec.keywords, spec.batchSize);
          result = encodeResult(f);
        }
        images += cands.length;
        return result!;
      },
      { connection: connectionFor(o.url), concurrency: o.concurrency ?? 1, lockDuration: lockMs, stalledInterval: Math.max(500, lockMs / 2), maxStalledCount: 3, autorun: false },
    );
    worker.on('completed', () => processed++);
    worker.on('failed', (job, err) => {
      failed++;
      log(`worker: prompt ${JSON.stringify(job?.data?.id)} failed (try ${job?.attemptsMade ?? '?'} of ${job?.opts.attempts ?? '?'}): ${err.message.split('\n')[0]}`);
    });
    worker.on('error', (e) => log(`worker: ${e.message.split('\n')[0]}`));
    const ticker = setInterval(() => {
      const secs = (Date.now() - t0) / 1000;
      log(`worker: ${processed} prompts done, ${failed} failed, ${(images / Math.max(secs, 1e-3)).toFixed(2)} images/s`);
    }, 30_000);
    ticker.unref();
    const stop = () => void worker.close();
    o.signal?.addEventListener('abort', stop, { once: true });
    try {
      if (o.signal?.aborted) return { processed, failed };
      await worker.run();
    } finally {
      clearInterval(ticker);
      o.signal?.removeEventListener('abort', stop);
      await worker.close();
    }
    return { processed, failed };
  } finally {
    await generator.close().catch(() => undefined);
    if (scorer && !o.scorerInstance) await scorer.dispose();
  }
}

export function checkWorkerOptions(o: Pick<WorkerOptions, 'concurrency' | 'lockSeconds'>): void {
  if (o.concurrency !== undefined && !(Number.isInteger(o.concurrency) && o.concurrency >= 1)) throw new UserError(`--concurrency must be an integer ≥ 1, got ${o.concurrency}`);
  if (o.lockSeconds !== undefined && !(o.lockSeconds >= 1)) throw new UserError(`--lock-seconds must be ≥ 1, got ${o.lockSeconds}`);
}
