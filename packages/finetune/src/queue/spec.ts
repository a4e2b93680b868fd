import { UserError } from '@richhf/reward';
import type { Queue } from 'bullmq';
import type { GeneratorOptions } from '../generators/open';
import type { ScorerSpec } from '../builder';
import { settingsDiff, type RunSettings } from '../run-config';

/**
 * What every worker and the collector of a queued run must agree on, stored in Redis beside the queue by
 * `enqueue`: the generator, N, the selection and the scorer. Workers read it, so they need only --queue.
 */
export interface QueueRunSpec {
  v: 1;
  created: string;
  /** Prompts enqueued so far (enqueue adds more when rerun with a longer file). */
  prompts: number;
  generator: string;
  generatorOptions: GeneratorOptions;
  n: number;
  seed: number;
  select: string;
  min: number | null;
  top: number;
  pairs: boolean;
  margin: number;
  keywords: boolean;
  scorer: ScorerSpec;
  batchSize: number;
}

const key = (q: Queue) => q.getBackend().toKey('finetune-run');
/** Ids of prompts the collector has committed (their jobs removed): a Redis set beside the queue. */
export const collectedKey = (q: Queue) => q.getBackend().toKey('finetune-collected');

export async function readSpec(q: Queue, url: string): Promise<QueueRunSpec> {
  const raw = await (await q.getBackend().client).get(key(q));
  if (!raw) throw new UserError(`--queue ${url}: no finetune run on queue "${q.name}" (run \`finetune enqueue\` first)`);
  return JSON.parse(raw) as QueueRunSpec;
}

/** Store the spec, or check it against the one stored (same run: prompts may grow; anything else may not). */
export async function writeSpec(q: Queue, url: string, spec: QueueRunSpec): Promise<QueueRunSpec> {
  const client = await q.getBackend().client;
  const raw = await client.get(key(q));
  if (raw) {
    const prev = JSON.parse(raw) as QueueRunSpec;
    const diff = settingsDiff(specSettings(prev), specSettings(spec));
    if (diff) throw new UserError(`--queue ${url}: queue "${q.name}" holds another run (${diff}); use another --name or the same options`);
    spec = { ...prev, prompts: Math.max(prev.prompts, spec.prompts) };
  }
  await client.set(key(q), JSON.stringify(spec));
  return spec;
}

/** The settings a collected dataset records (run.json), from the spec: the same fields as a local build. */
export function specSettings(s: QueueRunSpec, formats: string[] = [], imageType = 'png'): RunSettings {
  return {
    generator: { kind: 'queue', generator: s.generator, options: { workflow: s.generatorOptions.workflow ?? null, params: s.generatorOptions.params ?? null } },
    n: s.n,
    seed: s.seed,
    select: s.select,
    min: s.min,
    top: s.top,
    pairs: s.pairs,
    margin: s.margin,
    formats,
    imageType,
    keywords: s.keywords,
    scorer: { checkpoint: s.scorer.checkpoint ?? 'bundled', int8: Boolean(s.scorer.int8) },
  };
}
