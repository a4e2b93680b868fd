import * as fs from 'fs';
import * as os from 'os';
import * as path from 'path';
import { openScorer } from '@richhf/reward';
import { runCli, startCli } from '../testing/child-cli';
import { startFakeA1111 } from '../testing/fake-a1111';
import { startRedis } from '../testing/redis';
import { verifyOutput } from '../verify';
import { openQueue } from './connection';
import { enqueuePrompts } from './enqueue';

// Scale-out on a real redis-server: enqueue, workers as separate processes (one killed mid-job), and one
// collector (killed once too, then rerun): every prompt is written exactly once, none lost.

let dir: string;
let redis: Awaited<ReturnType<typeof startRedis>>;
let a1111: Awaited<ReturnType<typeof startFakeA1111>>;
let cache: string;
const PROMPTS = 12;

beforeAll(async () => {
  dir = fs.mkdtempSync(path.join(os.tmpdir(), 'ft-queue-'));
  redis = await startRedis();
  a1111 = await startFakeA1111('ok', { latencyMs: 300 });
  cache = path.join(dir, 'cache');
  await (await openScorer(undefined, { engine: 'ort', cacheDir: cache, log: () => undefined })).dispose();
});
afterAll(async () => {
  await a1111?.close();
  await redis?.stop();
  fs.rmSync(dir, { recursive: true, force: true });
});

const promptOfRequest = (body: string) => JSON.parse(body).prompt as string;

test('enqueue → workers (one SIGKILLed mid-job) → collect (SIGKILLed once, rerun): each prompt exactly once', async () => {
  const prompts = path.join(dir, 'p.txt');
  fs.writeFileSync(prompts, Array.from({ length: PROMPTS }, (_, i) => `prompt number ${i}`).join('\n') + '\n');
  const common = { url: redis.url, name: 'run1', prompts, generator: `a1111:${a1111.url}`, n: 2, pairs: true, margin: 0, keywords: false, scorer: { engine: 'ort' as const } };
  const first = await enqueuePrompts(common);
  expect(first).toMatchObject({ added: PROMPTS, already: 0 });
  expect(await enqueuePrompts(common)).toMatchObject({ added: 0, already: PROMPTS }); // idempotent
  await expect(enqueuePrompts({ ...common, n: 3 })).rejects.toThrow(/queue "run1" holds another run \(n: 3 now, 2 in the folder\)/);

  const workerArgs = ['worker', '--queue', redis.url, '--name', 'run1', '--lock-seconds', '2', '--cache-dir', cache];
  // Worker A takes a job and is killed while the generator is still working on it.
  const a = startCli(workerArgs);
  const t0 = Date.now();
  while (a1111.requests.length === 0 && Date.now() - t0 < 30_000) await new Promise((r) => setTimeout(r, 20));
  const victim = promptOfRequest(a1111.requests[0].body);
  a.child.kill('SIGKILL');
  expect((await a.done).signal).toBe('SIGKILL');
  const b = startCli(workerArgs);
  const c = startCli(workerArgs);

  // The collector, killed once after its first commit, then run to the end.
  const out = path.join(dir, 'out');
  const collectArgs = ['collect', '--queue', redis.url, '--name', 'run1', '--out', out, '--format', 'webdataset,imagefolder,dpo', '--shard-samples', '3', '--progress', 'false'];
  const col = startCli(collectArgs);
  const journal = path.join(out, '.finetune', 'journal.jsonl');
  while (!(fs.existsSync(journal) && fs.statSync(journal).size > 0) && Date.now() - t0 < 60_000) await new Promise((r) => setTimeout(r, 10));
  col.child.kill('SIGKILL');
  expect((await col.done).signal).toBe('SIGKILL');
  const done = await runCli(collectArgs);
  expect(done.stderr).not.toMatch(/^finetune:/m);
  expect(done.code).toBe(0);
  expect(done.stdout).toMatch(new RegExp(`whole run: ${PROMPTS} prompts, ${PROMPTS} samples accepted`));

  b.child.kill('SIGTERM');
  c.child.kill('SIGTERM');
  const [rb, rc] = await Promise.all([b.done, c.done]);
  expect([rb.code, rc.code]).toEqual([0, 0]); // graceful stop
  expect(rb.stdout + rc.stdout).toMatch(/worker stopped: \d+ prompts done/);

  const report = await verifyOutput(out);
  expect(report.problems).toEqual([]);
  expect(report).toMatchObject({ prompts: PROMPTS, webdataset: { samples: PROMPTS }, imagefolder: { samples: PROMPTS }, dpo: { rows: PROMPTS } });
  // The killed worker's prompt was generated again by another worker.
  expect(a1111.requests.filter((r) => promptOfRequest(r.body) === victim).length).toBeGreaterThanOrEqual(2);
  // Committed jobs are gone from Redis and remembered as collected: enqueueing again adds nothing.
  const q = await openQueue({ url: redis.url, name: 'run1' });
  expect(await q.getJobCounts('waiting', 'active', 'completed', 'failed')).toEqual({ waiting: 0, active: 0, completed: 0, failed: 0 });
  await q.close();
  expect(await enqueuePrompts(common)).toMatchObject({ added: 0, collected: PROMPTS });
  // Collecting again finds everything done.
  const again = await runCli(collectArgs);
  expect(again.code).toBe(0);
  expect(again.stdout).toMatch(/0 prompts built now \(12 done before, 0 left of 12\)/);
});

test('an unreachable Redis is one line, fast', async () => {
  const r = await runCli(['worker', '--queue', 'redis://127.0.0.1:1']);
  expect(r.code).toBe(1);
  expect(r.stderr.trim()).toBe('finetune: --queue redis://127.0.0.1:1: Redis at 127.0.0.1:1 is unreachable (ECONNREFUSED)');
  const e = await runCli(['collect', '--queue', redis.url, '--name', 'nothing', '--out', path.join(dir, 'x')]);
  expect(e.stderr.trim()).toBe(`finetune: --queue ${redis.url}: no finetune run on queue "nothing" (run \`finetune enqueue\` first)`);
});

test('a prompt that fails every try is reported by collect and comes back with enqueue --retry-failed', async () => {
  const { runWorker } = await import('./worker');
  const { collect } = await import('./collect');
  const { ColourScorer } = await import('../testing/fake-scorer');
  const { candidateFolder } = await import('../testing/samples');
  const sub = path.join(dir, 'fail');
  fs.mkdirSync(sub);
  const prompts = await candidateFolder(sub, [{ id: 'ok', prompt: 'a cat' }, { id: 'gone', prompt: 'a dog' }], 2, (i, k) => 50 * k + i);
  fs.renameSync(path.join(sub, 'candidates', 'gone'), path.join(sub, 'gone-aside'));
  const common = { url: redis.url, name: 'run2', prompts, generator: `folder:${path.join(sub, 'candidates')}`, n: 2, keywords: false };
  await enqueuePrompts(common);
  const work = async () => {
    const ac = new AbortController();
    const w = runWorker({ url: redis.url, name: 'run2', scorerInstance: new ColourScorer(), signal: ac.signal, log: () => undefined });
    const out = path.join(sub, 'out');
    const s = await collect({ url: redis.url, name: 'run2', out, progress: false, pollMs: 50, log: () => undefined });
    ac.abort();
    await w;
    return s;
  };
  const first = await work();
  expect(first.failed).toEqual([{ id: 'gone', reason: expect.stringMatching(/no folder .*gone for prompt "gone"/) }]);
  expect(first.stats.prompts).toBe(1);
  fs.renameSync(path.join(sub, 'gone-aside'), path.join(sub, 'candidates', 'gone'));
  expect(await enqueuePrompts({ ...common, retryFailed: true })).toMatchObject({ added: 0, retried: 1 });
  const second = await work();
  expect(second.failed).toEqual([]);
  expect(second).toMatchObject({ processed: 1, skipped: 1 });
  expect((await verifyOutput(path.join(sub, 'out'))).problems).toEqual([]);
});
