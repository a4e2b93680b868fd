import * as fs from 'fs';
import * as os from 'os';
import * as path from 'path';
import { openScorer } from '@richhf/reward';
import { runCli, startCli } from './testing/child-cli';
import { candidateFolder } from './testing/samples';
import { parquetRows, readTar, verifyOutput } from './verify';

// The builder killed with SIGKILL at random moments — while starting, while recovering, mid-shard, right
// after a commit — and rerun each time: every file visible after a kill reads back whole, and the finished
// folder holds every prompt exactly once with the same samples as a run that was never interrupted.

let dir: string;
let args: (out: string) => string[];
const PROMPTS = 40;

beforeAll(async () => {
  dir = fs.mkdtempSync(path.join(os.tmpdir(), 'ft-kill-'));
  const prompts = Array.from({ length: PROMPTS }, (_, i) => ({ id: i === 7 ? '../../seven' : `p${i}`, prompt: `a photo number ${i}` }));
  const { safeKey } = await import('./ids');
  const file = await candidateFolder(dir, prompts.map((p) => ({ ...p, folder: safeKey(p.id) })), 2, (i, k) => (37 * i + 91 * k) % 256);
  const cache = path.join(dir, 'cache');
  await (await openScorer(undefined, { engine: 'ort', cacheDir: cache, log: () => undefined })).dispose(); // export once
  args = (out) => [
    'build', '--prompts', file, '--generator', `folder:${path.join(dir, 'candidates')}`, '--n', '2', '--select', 'plausibility=1,aesthetics=1',
    '--min', '0.3', '--pairs', '--margin', '0', '--format', 'webdataset,imagefolder,dpo', '--shard-samples', '3', '--engine', 'ort',
    '--cache-dir', cache, '--keywords', 'false', '--progress', 'false', '--out', out,
  ];
});
afterAll(() => fs.rmSync(dir, { recursive: true, force: true }));

/** Every published file reads back whole (cross-file agreement is restored by the next run's redo). */
async function visibleFilesWhole(out: string): Promise<void> {
  const wds = path.join(out, 'webdataset');
  if (fs.existsSync(wds)) for (const f of fs.readdirSync(wds)) await readTar(path.join(wds, f));
  const dpo = path.join(out, 'dpo');
  if (fs.existsSync(dpo)) for (const f of fs.readdirSync(dpo)) for await (const _ of parquetRows(path.join(dpo, f))) void _;
  const meta = path.join(out, 'imagefolder', 'train', 'metadata.jsonl');
  if (fs.existsSync(meta)) {
    const text = fs.readFileSync(meta, 'utf8');
    expect(text.endsWith('\n')).toBe(true);
    for (const line of text.trim().split('\n')) JSON.parse(line);
  }
}

/** Sample key → (webdataset json, image bytes), imagefolder rows and DPO rows by prompt: the dataset's content. */
async function content(out: string) {
  const wds: Record<string, string> = {};
  for (const f of fs.readdirSync(path.join(out, 'webdataset')).sort()) {
    for (const m of await readTar(path.join(out, 'webdataset', f))) wds[m.name] = m.data.toString('base64');
  }
  const meta = fs.readFileSync(path.join(out, 'imagefolder', 'train', 'metadata.jsonl'), 'utf8').trim().split('\n').sort();
  const dpo: string[] = [];
  for (const f of fs.readdirSync(path.join(out, 'dpo'))) {
    for await (const r of parquetRows(path.join(out, 'dpo', f))) dpo.push(JSON.stringify(r, (_k, v) => (v instanceof Uint8Array ? Buffer.from(v).toString('base64') : typeof v === 'bigint' ? String(v) : v)));
  }
  return { wds, meta, dpo: dpo.sort() };
}

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));
const fileSize = (f: string) => (fs.existsSync(f) ? fs.statSync(f).size : 0);

test('SIGKILL at ≥ 10 random moments, resumed each time: each prompt exactly once, files whole, nothing lost', async () => {
  const reference = path.join(dir, 'reference');
  const ref = await runCli(args(reference));
  expect(ref.stderr).toBe('');
  expect(ref.code).toBe(0);
  expect(ref.stdout).toMatch(/40 prompts built now/);
  const commits = fs.readFileSync(path.join(reference, '.finetune', 'journal.jsonl'), 'utf8').trim().split('\n').length;
  expect(commits).toBeGreaterThanOrEqual(13); // enough for 12 kills that each let at most about one commit land

  // Kill moments are tied to the run's own progress, never to wall time (a fast idle machine and a loaded one
  // must be killed equally often): during start-up and the previous kill's recovery, well before the first
  // commit a run can make; or within a few milliseconds of a commit landing (mid-publish, or at the next
  // shard's first sample).
  const out = path.join(dir, 'killed');
  let kills = 0;
  let runs = 0;
  let rng = 12345;
  const random = () => ((rng = (rng * 1103515245 + 12345) % 2 ** 31) / 2 ** 31);
  const journal = path.join(out, '.finetune', 'journal.jsonl');
  for (;;) {
    runs++;
    const { child, done } = startCli(args(out));
    let finished = false;
    void done.then(() => (finished = true));
    if (kills < 12) {
      if (kills % 2 === 0) {
        await sleep(random() * 300);
      } else {
        const before = fileSize(journal);
        while (!finished && fileSize(journal) === before) await sleep(1);
        await sleep(random() * 20);
      }
      if (!finished) child.kill('SIGKILL');
    }
    const r = await done;
    if (process.env.KILL_DEBUG) process.stdout.write(`run ${runs}: ${r.signal ?? r.code} journal ${fs.existsSync(journal) ? fs.readFileSync(journal, 'utf8').split('\n').length - 1 : 0}/${commits}\n`);
    if (r.signal === 'SIGKILL') {
      kills++;
      await visibleFilesWhole(out);
      continue;
    }
    expect(r.stderr).not.toMatch(/^finetune:/m);
    expect(r.code).toBe(0);
    break;
  }
  expect(kills).toBeGreaterThanOrEqual(10);
  const report = await verifyOutput(out);
  expect(report.problems).toEqual([]);
  expect(report.prompts).toBe(PROMPTS);
  expect(await content(out)).toEqual(await content(reference));
  // The run's statistics cover every resumed part.
  expect(JSON.parse(fs.readFileSync(path.join(out, 'stats.json'), 'utf8')).prompts).toBe(PROMPTS);
  expect(runs).toBe(kills + 1);
});
