import type { ScorerSpec } from '../builder';
import type { GeneratorOptions } from '../generators/open';
import { PromptEntry, readPrompts } from '../prompts';
import { formatMix, parseSelect, validateSelectOptions } from '../selection';
import { UserError } from '@richhf/reward';
import { openQueue, QueueTarget } from './connection';
import type { PromptJob } from './payload';
import { collectedKey, QueueRunSpec, writeSpec } from './spec';

export interface EnqueueOptions extends QueueTarget {
  prompts: string | PromptEntry[];
  generator: string;
  generatorOptions?: GeneratorOptions;
  n?: number;
  seed?: number;
  select?: string;
  min?: number;
  top?: number;
  pairs?: boolean;
  margin?: number;
  keywords?: boolean;
  scorer?: ScorerSpec;
  batchSize?: number;
  /** Tries per prompt before it is given up as failed (default 3); a stalled (killed) worker's job is retried regardless. */
  attempts?: number;
  /** Put failed prompts back on the queue. */
  retryFailed?: boolean;
}

/** BullMQ job ids may not be integers or contain ':'; prompt keys are [A-Za-z0-9_-], so prefix them. */
export const jobId = (key: string) => `p-${key}`;

/**
 * Puts a run's prompts on a BullMQ queue (one job per prompt, its id derived from the prompt key, so enqueueing
 * again adds only what is new) and stores the run's settings beside it for the workers and the collector.
 */
export async function enqueuePrompts(o: EnqueueOptions): Promise<{ added: number; already: number; collected: number; retried: number; spec: QueueRunSpec }> {
  const prompts = typeof o.prompts === 'string' ? readPrompts(o.prompts) : o.prompts;
  const n = o.n ?? 8;
  if (!(Number.isInteger(n) && n >= 1)) throw new UserError(`--n must be an integer ≥ 1, got ${n}`);
  const mix = parseSelect(o.select ?? 'plausibility');
  const sel = { mix, min: o.min, top: o.top ?? 1, pairs: o.pairs ?? false, margin: o.margin ?? 0.1 };
  validateSelectOptions(sel);
  const { threads: _t, cacheDir: _c, ...scorer } = o.scorer ?? {};
  const spec: QueueRunSpec = {
    v: 1,
    created: new Date().toISOString(),
    prompts: prompts.length,
    generator: o.generator,
    generatorOptions: o.generatorOptions ?? {},
    n,
    seed: o.seed ?? 0,
    select: formatMix(mix),
    min: sel.min ?? null,
    top: sel.top,
    pairs: sel.pairs,
    margin: sel.margin,
    keywords: o.keywords ?? true,
    scorer,
    batchSize: o.batchSize ?? 8,
  };
  const q = await openQueue(o);
  try {
    const stored = await writeSpec(q, o.url, spec);
    const before = await q.getJobCountByTypes('waiting', 'active', 'delayed', 'completed', 'failed', 'prioritized');
    const attempts = o.attempts ?? 3;
    // Prompts the collector already wrote (their jobs are gone from Redis) must not be generated again.
    const collected = new Set<string>(await (await q.getBackend().client).smembers(collectedKey(q)));
    const todo = prompts.filter((p) => !collected.has(p.id));
    for (let i = 0; i < todo.length; i += 500) {
      await q.addBulk(
        todo.slice(i, i + 500).map((p) => ({
          name: 'prompt',
          data: { id: p.id, key: p.key, prompt: p.prompt } satisfies PromptJob,
          opts: { jobId: jobId(p.key), attempts, backoff: { type: 'exponential', delay: 2000 }, removeOnComplete: false, removeOnFail: false },
        })),
      );
    }
    const after = await q.getJobCountByTypes('waiting', 'active', 'delayed', 'completed', 'failed', 'prioritized');
    let retried = 0;
    if (o.retryFailed) {
      for (const job of await q.getFailed()) {
        await job.retry();
        retried++;
      }
    }
    return { added: after - before, already: prompts.length - (after - before), collected: prompts.length - todo.length, retried, spec: stored };
  } finally {
    await q.close();
  }
}
