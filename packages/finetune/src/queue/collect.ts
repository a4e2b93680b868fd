import { UserError } from '@richhf/reward';
import { Progress } from '@richhf/reward/util';
import type { BuildSummary } from '../builder';
import { OutputSet, ShardPolicy } from '../output-set';
import { writeReport } from '../report';
import type { FormatName, ImageType } from '../writers/output';
import { openQueue, QueueTarget } from './connection';
import { decodeResult, JobResult, PromptJob } from './payload';
import { collectedKey, readSpec, specSettings } from './spec';

export interface CollectOptions extends QueueTarget, ShardPolicy {
  out: string;
  formats?: FormatName[];
  imageType?: ImageType;
  /** Milliseconds between looks at the queue when nothing new is there (default 500). */
  pollMs?: number;
  progress?: boolean;
  log?: (line: string) => void;
  signal?: AbortSignal;
}

export interface CollectSummary extends BuildSummary {
  /** Prompts whose jobs failed every try (left on the queue; `enqueue --retry-failed` puts them back). */
  failed: Array<{ id: string; reason: string }>;
}

/**
 * The one writer of a queued run: takes finished jobs off the queue in completion order, writes their samples
 * through the same journal and writers as `build`, and removes a job only after the commit that holds it (its
 * prompt id then goes into a "collected" set, which `enqueue` consults). A job seen twice — the collector
 * restarted after a commit but before the removal, or a retried job completed again — is recognised by the
 * journal and dropped: no prompt is written twice. Returns when every enqueued prompt is written or failed.
 */
export async function collect(o: CollectOptions): Promise<CollectSummary> {
  const t0 = Date.now();
  const log = o.log ?? ((l: string) => process.stderr.write(l + '\n'));
  const q = await openQueue(o);
  let output: OutputSet | undefined;
  let ok = false;
  try {
    let spec = await readSpec(q, o.url);
    const formats = o.formats ?? ['webdataset'];
    if (formats.includes('dpo') && !spec.pairs) throw new UserError('--format dpo needs a run enqueued with --pairs');
    output = await OutputSet.open({
      out: o.out, formats, imageType: o.imageType, settings: specSettings(spec, [...formats].sort(), o.imageType ?? 'png'), model: spec.generator.split(':')[0],
      shardSamples: o.shardSamples, shardBytes: o.shardBytes, commitSeconds: o.commitSeconds,
    });
    const client = await q.getBackend().client;
    const skipped = output.done.size;
    const progress = new Progress(Math.max(0, spec.prompts - skipped), 'prompts', { enabled: o.progress ?? true, unit: 'prompts' });
    let held: string[] = []; // job ids written but not yet committed: they stay on the queue until then
    const heldIds = new Set<string>();
    let processed = 0;
    let candidates = 0;
    let accepted = 0;
    let pairs = 0;
    const release = async (ids: string[], promptIds: string[]) => {
      if (promptIds.length) await client.runCommand('sadd', [collectedKey(q), ...promptIds]);
      for (const id of ids) await q.remove(id).catch(() => undefined);
    };
    let heldPrompts: string[] = [];
    const commitAndRelease = async () => {
      await output!.commit();
      await release(held, heldPrompts);
      held = [];
      heldPrompts = [];
      heldIds.clear();
    };
    for (;;) {
      if (o.signal?.aborted) break;
      const page = (await q.getJobs(['completed'], held.length, held.length + 19, true)).filter((j) => j && !heldIds.has(j.id!));
      for (const job of page) {
        const data = job.data as PromptJob;
        if (output.done.has(data.id)) {
          await release([job.id!], [data.id]);
          continue;
        }
        const r = job.returnvalue as JobResult | undefined;
        if (!r || r.v !== 1) throw new Error(`job ${job.id} (prompt ${JSON.stringify(data.id)}) completed without a finetune result`);
        const { outputs, record } = decodeResult(r);
        const committed = await output.add(outputs, record);
        held.push(job.id!);
        heldIds.add(job.id!);
        heldPrompts.push(data.id);
        if (committed) {
          await release(held, heldPrompts);
          held = [];
          heldPrompts = [];
          heldIds.clear();
        }
        processed++;
        candidates += record.n;
        accepted += outputs.accepted.length;
        if (outputs.pair) pairs++;
        progress.tick(1, `${accepted} accepted${spec.pairs ? `, ${pairs} pairs` : ''}`);
      }
      if (page.length > 0) continue;
      spec = await readSpec(q, o.url);
      const counts = await q.getJobCounts('waiting', 'active', 'delayed', 'prioritized', 'failed');
      const pending = counts.waiting + counts.active + counts.delayed + counts.prioritized;
      if (output.done.size + held.length + counts.failed >= spec.prompts && pending === 0) break;
      if (pending === 0 && counts.failed > 0 && (await q.getCompletedCount()) <= held.length) break;
      await new Promise((r) => setTimeout(r, o.pollMs ?? 500));
    }
    await commitAndRelease();
    await output.close();
    ok = true;
    const failedJobs = await q.getFailed();
    const failed = failedJobs.map((j) => ({ id: (j.data as PromptJob).id, reason: (j.failedReason ?? '').split('\n')[0] }));
    const report = await writeReport(output.out);
    const seconds = (Date.now() - t0) / 1000;
    return {
      out: output.out, prompts: spec.prompts, skipped, processed, remaining: Math.max(0, spec.prompts - output.done.size), candidates, accepted, pairs,
      seconds, imagesPerSecond: candidates / Math.max(seconds, 1e-9), stats: report.stats, resumed: output.resumed, failed,
    };
  } finally {
    if (!ok && output) await output.close().catch(() => output!.abort());
    await q.close();
  }
}
