import { spawnSync } from 'child_process';
import { randomBytes } from 'crypto';
import * as fs from 'fs';
import * as os from 'os';
import * as path from 'path';
import sharp from 'sharp';
import { openScorer } from '@richhf/reward';
import { runCli } from '../testing/child-cli';
import { freePort } from '../testing/redis';
import { candidateFolder } from '../testing/samples';
import { verifyOutput } from '../verify';

// The CLI as a user runs it (a separate process): the summary, and one line per bad input or fault.

let dir: string;
let cache: string;
let prompts: string;
let cands: string;
beforeAll(async () => {
  dir = fs.mkdtempSync(path.join(os.tmpdir(), 'ft-cli-'));
  cache = path.join(dir, 'cache');
  await (await openScorer(undefined, { engine: 'ort', cacheDir: cache, log: () => undefined })).dispose();
  prompts = await candidateFolder(dir, [{ id: 'a', prompt: 'a red cat' }, { id: 'b', prompt: 'a blue dog' }], 3, (i, k) => 80 * k + i);
  cands = path.join(dir, 'candidates');
});
afterAll(() => fs.rmSync(dir, { recursive: true, force: true }));

const build = (out: string, extra: string[] = []) =>
  runCli(['build', '--prompts', prompts, '--generator', `folder:${cands}`, '--n', '3', '--cache-dir', cache, '--engine', 'ort', '--out', out, ...extra]);

test('build prints a summary with where each dataset is, and a progress line on stderr', async () => {
  const out = path.join(dir, 'ok');
  const r = await build(out, ['--format', 'webdataset,imagefolder,dpo', '--pairs', '--margin', '0']);
  expect(r.code).toBe(0);
  expect(r.stderr).toMatch(/prompts 2\/2 \(100%\) [\d.]+ prompts\/s elapsed \S+ eta \S+ [\d.]+ images\/s, 2 accepted, 2 pairs/);
  expect(r.stdout).toMatch(/^2 prompts built now \(0 done before, 0 left of 2\): 6 candidates in \S+ \([\d.]+ images\/s\)$/m);
  expect(r.stdout).toMatch(/^whole run: 2 prompts, 2 samples accepted from 2 prompts \(accept rate 100\.0 %; 33\.3 % of candidates\), 2 pairs$/m);
  expect(r.stdout).toContain(`webdataset: ${path.join(out, 'webdataset', '{000000..000000}.tar')}`);
  const v = await runCli(['verify', '--out', out]);
  expect(v.code).toBe(0);
  expect(v.stdout).toMatch(/2 prompts, webdataset 2 samples in 1 shards, imagefolder 2 samples, dpo 2 pairs in 1 files\nwhole/);
});

test('bad input and faults: one line each, non-zero exit, a stack only with --verbose', async () => {
  const broken = path.join(dir, 'broken.jsonl');
  fs.writeFileSync(broken, '{"id":"a","prompt":"a red cat"}\n{"id":"b","prompt":\n');
  const closedPort = await freePort(); // nothing listens there
  const cases: Array<[string[], number, RegExp]> = [
    [['build', '--prompts', broken, '--generator', `folder:${cands}`, '--out', path.join(dir, 'x1')], 1, /^finetune: --prompts broken\.jsonl:2: not a JSON object \(.+\)$/],
    [['build', '--prompts', prompts, '--generator', 'warp:1', '--out', path.join(dir, 'x2')], 1, /^finetune: --generator warp:1: unknown kind "warp"/],
    [['build', '--prompts', prompts, '--generator', `folder:${cands}`, '--format', 'dpo', '--out', path.join(dir, 'x3')], 1, /^finetune: --format dpo needs --pairs/],
    [['build', '--prompts', prompts, '--generator', `folder:${cands}`, '--select', 'beauty', '--out', path.join(dir, 'x4')], 1, /^finetune: --select beauty: unknown score "beauty"/],
    [['build', '--prompts', prompts, '--generator', `a1111:http://127.0.0.1:${closedPort}`, '--retries', '1', '--cache-dir', cache, '--out', path.join(dir, 'x5')], 3, /^finetune: a1111 http:\/\/127\.0\.0\.1:\d+: unreachable \(ECONNREFUSED\)$/],
    [['build', '--prompts', prompts, '--generator', `folder:${cands}`, '--n', '4', '--cache-dir', cache, '--out', path.join(dir, 'ok')], 1, /^finetune: --out .*ok holds another run's files \(n: 4 now, 3 in the folder\)/],
  ];
  fs.mkdirSync(path.join(dir, 'x6'));
  fs.writeFileSync(path.join(dir, 'x6', 'holiday.jpg'), 'x');
  cases.push([['build', '--prompts', prompts, '--generator', `folder:${cands}`, '--out', path.join(dir, 'x6')], 1, /^finetune: --out .*x6 is not empty and holds no finetune run \(holiday\.jpg\)/]);
  for (const [args, code, re] of cases) {
    const r = await runCli(args);
    expect([args.join(' '), r.code]).toEqual([args.join(' '), code]);
    expect(r.stderr.trim().split('\n').filter((l) => l.startsWith('finetune:'))).toHaveLength(1);
    expect(r.stderr.trim().split('\n').pop()).toMatch(re);
  }
  const v = await runCli(['build', '--verbose', '--prompts', broken, '--generator', `folder:${cands}`, '--out', path.join(dir, 'x1')]);
  expect(v.stderr).toMatch(/UserError: --prompts broken\.jsonl:2[\s\S]*\n\s+at /);
});

// A real full disk: --out on a small tmpfs (needs root and mount; skipped, saying so, where unavailable).
test('disk full: one line, the committed prompts kept whole, the same command resumes once there is space', async () => {
  const mnt = path.join(dir, 'small');
  fs.mkdirSync(mnt);
  if (spawnSync('mount', ['-t', 'tmpfs', '-o', 'size=600k', 'tmpfs', mnt]).status !== 0) {
    console.warn('disk-full test skipped: cannot mount a tmpfs here (needs root)');
    return;
  }
  try {
    // Noise images (~200 kB as PNG) fill 600 kB within a few prompts.
    const big = path.join(dir, 'big');
    const ps = Array.from({ length: 8 }, (_, i) => ({ id: `n${i}`, prompt: `noise ${i}` }));
    for (const p of ps) {
      fs.mkdirSync(path.join(big, p.id), { recursive: true });
      for (let k = 0; k < 2; k++) {
        const px = randomBytes(256 * 256 * 3); // incompressible
        await sharp(px, { raw: { width: 256, height: 256, channels: 3 } }).png().toFile(path.join(big, p.id, `${k}.png`));
      }
    }
    const bigPrompts = path.join(dir, 'big.jsonl');
    fs.writeFileSync(bigPrompts, ps.map((p) => JSON.stringify(p)).join('\n'));
    const out = path.join(mnt, 'out');
    const args = ['build', '--prompts', bigPrompts, '--generator', `folder:${big}`, '--n', '2', '--format', 'webdataset,imagefolder', '--shard-samples', '1', '--cache-dir', cache, '--engine', 'ort', '--keywords', 'false', '--out', out];
    const full = await runCli(args);
    expect(full.code).toBe(4);
    expect(full.stderr.trim().split('\n').pop()).toMatch(/^finetune: disk full writing .+ \(ENOSPC\): free space and rerun the same command to resume; everything committed before is kept$/);
    const partial = await verifyOutput(out);
    expect(partial.problems).toEqual([]);
    expect(partial.prompts).toBeGreaterThan(0);
    expect(partial.prompts).toBeLessThan(8);
    expect(spawnSync('mount', ['-o', 'remount,size=64m', mnt]).status).toBe(0);
    const again = await runCli(args);
    expect(again.code).toBe(0);
    expect(again.stdout).toMatch(new RegExp(`\\(${partial.prompts} done before, 0 left of 8\\)`));
    const report = await verifyOutput(out);
    expect(report).toMatchObject({ prompts: 8, problems: [], webdataset: { samples: 8 }, imagefolder: { samples: 8 } });
  } finally {
    spawnSync('umount', [mnt]);
  }
});
