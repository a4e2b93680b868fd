import * as fs from 'fs';
import * as os from 'os';
import * as path from 'path';
import { UserError } from '@richhf/reward';
import { build, buildAll } from './builder';
import { ColourScorer } from './testing/fake-scorer';
import { candidateFolder } from './testing/samples';
import { readTar, verifyOutput } from './verify';

let dir: string;
beforeEach(() => (dir = fs.mkdtempSync(path.join(os.tmpdir(), 'ft-build-'))));
afterEach(() => fs.rmSync(dir, { recursive: true, force: true }));

const PROMPTS = [
  { id: 'p0', prompt: 'red cat' },
  { id: 'p1', prompt: 'blue dog' },
  { id: '../../x', prompt: 'escape attempt', folder: undefined as string | undefined },
  { id: 'p3', prompt: 'green tree' },
];

test('best-of-N by plausibility with a minimum, pairs, three formats; ranked results stream out in order', async () => {
  const { safeKey } = await import('./ids');
  PROMPTS[2].folder = safeKey('../../x');
  // Candidate k of prompt i has red 40·k + 20·i: the last candidate is best; prompt 3's best is below the minimum.
  const prompts = await candidateFolder(dir, PROMPTS, 4, (i, k) => (i === 3 ? 30 + k : 40 * k + 20 * i));
  const scorer = new ColourScorer();
  const out = path.join(dir, 'out');
  const run = build({
    prompts, generator: `folder:${path.join(dir, 'candidates')}`, n: 4, select: 'plausibility', min: 0.4, pairs: true, margin: 0.1,
    formats: ['webdataset', 'imagefolder', 'dpo'], out, scorer, batchSize: 8, progress: false, shardSamples: 2,
  });
  const results = [];
  for await (const r of run) results.push(r);
  expect(results.map((r) => r.promptId)).toEqual(['p0', 'p1', '../../x', 'p3']);
  expect(results[0].ranked.map((r) => r.index)).toEqual([3, 2, 1, 0]);
  expect(results[0].accepted).toEqual(['p0_3']);
  expect(results[0].ranked[0].misaligned).toEqual(['red']);
  expect(results[3].accepted).toEqual([]);
  expect(results[0].pair).toMatchObject({ chosen: 'p0_3', rejected: 'p0_0' });
  expect(results[3].pair).toBeUndefined(); // red 30..33: margin 3/255 < 0.1
  expect(scorer.calls).toBeGreaterThanOrEqual(2); // 16 candidates in batches of 8, plus keywords
  const s = run.summary!;
  expect(s).toMatchObject({ prompts: 4, processed: 4, skipped: 0, candidates: 16, accepted: 3, pairs: 3, resumed: false });
  expect(s.stats.acceptRate).toBeCloseTo(0.75, 12);
  const report = await verifyOutput(out);
  expect(report.problems).toEqual([]);
  expect(report).toMatchObject({ prompts: 4, webdataset: { samples: 3 }, imagefolder: { samples: 3 }, dpo: { rows: 3 } });
  const json = JSON.parse((await readTar(path.join(out, 'webdataset', '000000.tar'))).find((m) => m.name === 'p0_3.json')!.data.toString());
  expect(json).toMatchObject({ prompt: 'red cat', candidate: 3, rank: 0, misaligned: ['red'], generator: { generator: 'folder', file: 'p0/3.png' } });
  expect(json.seed).toBeNull();
  expect(JSON.parse(fs.readFileSync(path.join(out, 'stats.json'), 'utf8'))).toMatchObject({ prompts: 4, accepted: 3, pairs: 3 });
  expect(fs.readFileSync(path.join(out, 'prompts.jsonl'), 'utf8').trim().split('\n')).toHaveLength(4);
  // Nothing outside --out: the temp folder holds only what the test made.
  expect(fs.readdirSync(dir).sort()).toEqual(['candidates', 'out', 'prompts.jsonl']);
});

test('a rerun resumes; --limit stops early; a changed prompt or other settings are refused', async () => {
  const prompts = await candidateFolder(dir, PROMPTS.filter((p) => p.id !== '../../x'), 3, (i, k) => 60 * k + i);
  const out = path.join(dir, 'out');
  const common = { prompts, generator: `folder:${path.join(dir, 'candidates')}`, n: 3, out, progress: false, scorer: new ColourScorer() };
  const first = await buildAll({ ...common, limit: 2 });
  expect(first).toMatchObject({ processed: 2, remaining: 1, skipped: 0 });
  const second = await buildAll(common);
  expect(second).toMatchObject({ processed: 1, remaining: 0, skipped: 2, resumed: true });
  expect(second.stats.prompts).toBe(3);
  expect((await verifyOutput(out)).problems).toEqual([]);
  await expect(buildAll({ ...common, n: 2 })).rejects.toThrow(/holds another run's files \(n: 2 now, 3 in the folder\)/);
  fs.writeFileSync(prompts, fs.readFileSync(prompts, 'utf8').replace('red cat', 'red hat'));
  await expect(buildAll(common)).rejects.toThrow(/line 1: prompt "p0" changed since this --out built it/);
});

test('an undecodable candidate stops the run with one line naming the file; earlier prompts stay committed', async () => {
  const prompts = await candidateFolder(dir, PROMPTS.filter((p) => p.id !== '../../x'), 2, (i, k) => 100 * k + i);
  fs.writeFileSync(path.join(dir, 'candidates', 'p1', '1.png'), 'not an image at all');
  const out = path.join(dir, 'out');
  const opts = { prompts, generator: `folder:${path.join(dir, 'candidates')}`, n: 2, out, progress: false, scorer: new ColourScorer(), concurrency: 1, batchSize: 2 };
  const err = await buildAll(opts).catch((e) => e);
  expect(err).toBeInstanceOf(UserError);
  expect(err.message).toMatch(/p1\/1\.png: candidate 1 of prompt "p1" does not decode/);
  expect(err.message).not.toContain('\n');
  const report = await verifyOutput(out);
  expect(report).toMatchObject({ prompts: 1, problems: [] });
  // Fixed, the same command resumes after p0.
  fs.copyFileSync(path.join(dir, 'candidates', 'p1', '0.png'), path.join(dir, 'candidates', 'p1', '1.png'));
  expect(await buildAll(opts)).toMatchObject({ skipped: 1, processed: 2 });
});

test('the bundled checkpoint scores real candidates end to end (onnxruntime engine)', async () => {
  const prompts = await candidateFolder(dir, PROMPTS.slice(0, 2), 2, (i, k) => 90 * k + 30 * i);
  const out = path.join(dir, 'out');
  const s = await buildAll({
    prompts, generator: `folder:${path.join(dir, 'candidates')}`, n: 2, out, progress: false, pairs: true, margin: 0,
    formats: ['webdataset', 'dpo'], scorer: { engine: 'ort', cacheDir: path.join(dir, 'cache') },
  });
  expect(s).toMatchObject({ processed: 2, candidates: 4, accepted: 2 });
  for (const p of s.stats.scores.plausibility.all.counts) expect(p).toBeGreaterThanOrEqual(0);
  expect(s.stats.scores.plausibility.all.n).toBe(4);
  expect((await verifyOutput(out)).problems).toEqual([]);
});
