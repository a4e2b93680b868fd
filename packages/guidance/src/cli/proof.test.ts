import * as fs from 'fs';
import * as os from 'os';
import * as path from 'path';
import sharp from 'sharp';
import { captureRun } from '../testing/capture-run';
import { cli } from './main';

// `guide proof`, `guide sweep` (synthetic world) and `guide synth-ldm`, run in-process as the binary runs them,
// at sizes that take seconds.

jest.setTimeout(300_000);

let tmp: string;
beforeAll(() => (tmp = fs.mkdtempSync(path.join(os.tmpdir(), 'guide-proof-cli-'))));
afterAll(() => fs.rmSync(tmp, { recursive: true, force: true }));

const run = (args: string[]) => captureRun(() => cli(args).parseAsync());

test('proof --json prints the result object; --chart writes the sweep', async () => {
  const chart = path.join(tmp, 'sweep.png');
  const r = await run(['proof', '--json', '--seeds', '8', '--seed', '100', '--scale', '3', '--scales', '0,3', '--steps', '6', '--heatmap-penalty', '2', '--threads', '1', '--no-progress', '--chart', chart]);
  expect(r.stderr).toBe('');
  expect(r.code).toBe(0);
  const j = JSON.parse(r.stdout);
  expect(j.n).toBe(8);
  expect(j.seeds).toEqual({ first: 100, n: 8 });
  expect(j.settings).toMatchObject({ heatmap_penalty: 2, normalize: true, jacobian: 'model' });
  expect(Object.keys(j.delta).sort()).toEqual(['aesthetics', 'alignment', 'defect_rate', 'overall', 'plausibility', 'reward']);
  expect(Object.keys(j.delta.overall).sort()).toEqual(['hi', 'lo', 'value']);
  expect(j.sweep.map((p: { scale: number }) => p.scale)).toEqual([0, 3]);
  expect(Object.keys(j.sweep[0])).toEqual(expect.arrayContaining(['scale', 'reward', 'truth_overall']));
  expect((await sharp(chart).metadata()).format).toBe('png');
});

test('sweep in the synthetic world: a PNG chart and one JSON line per scale with reward and truth', async () => {
  const out = path.join(tmp, 'sweep2.png');
  const r = await run(['sweep', '--scales', '0,1,3', '--seeds', '8', '--steps', '6', '--threads', '1', '--no-progress', '--out', out]);
  expect(r.code).toBe(0);
  const rows = r.stdout.trim().split('\n').map((l) => JSON.parse(l));
  expect(rows.map((x) => x.scale)).toEqual([0, 1, 3]);
  for (const x of rows) expect(x).toEqual(expect.objectContaining({ reward: expect.any(Number), truth_overall: expect.any(Number) }));
  expect((await sharp(out).metadata()).width).toBeGreaterThan(400);
});

test('synth-ldm builds a small bundle the proof can run in', async () => {
  const out = path.join(tmp, 'bundle');
  const r = await run(['synth-ldm', '--out', out, '--prompts', '2', '--per-prompt', '4', '--ae-steps', '3', '--threads', '1', '--no-progress']);
  expect(r.code).toBe(0);
  expect(JSON.parse(r.stdout)).toMatchObject({ out, latentShape: [8, 4, 64, 64] });
  const p = await run(['proof', '--json', '--bundle', out, '--seeds', '4', '--scales', '0,1', '--scale', '1', '--steps', '4', '--threads', '1', '--no-progress']);
  expect(p.code).toBe(0);
  expect(JSON.parse(p.stdout).n).toBe(4);
});

describe('bad input: one line naming the option, exit code 1', () => {
  const cases: Array<[string, string[], RegExp]> = [
    ['too few seeds', ['proof', '--seeds', '1'], /^guide: --seeds 1: expected an integer ≥ 2\n$/],
    ['a negative scale in the sweep', ['proof', '--scales', '0,-1'], /^guide: --scales -1:.*expected a finite number ≥ 0\n$/],
    ['an unknown score', ['proof', '--reward', 'beauty=1'], /^guide: weights: unknown score "beauty"/],
    ['a NaN heatmap penalty', ['proof', '--heatmap-penalty', 'nan'], /^guide: --heatmap-penalty NaN: expected a finite number ≥ 0 \(0 = no heatmap penalty\)\n$/],
    ['a negative heatmap penalty in the sweep', ['sweep', '--scales', '0,1', '--heatmap-penalty', '-3'], /^guide: --heatmap-penalty -3: expected a finite number ≥ 0/],
    ['an unknown Jacobian', ['proof', '--jacobian', 'exact'], /^guide: jacobian exact: expected forward or model\n$/],
    ['a window outside [0, 1]', ['proof', '--window', '0:2'], /^guide: --window: to 2 is outside \[0, 1\]/],
    ['--scale in a sweep', ['sweep', '--scales', '0,1', '--scale', '2'], /^guide: --scale: a sweep takes its scales from --scales\n$/],
    ['SD-only options without --model', ['sweep', '--scales', '0,1', '--prompt', 'x'], /^guide: --prompt: only with --model/],
    ['a reward checkpoint that cannot load', ['proof', '--reward-checkpoint', '/nonexistent/rahf', '--seeds', '2'], /^guide: reward checkpoint \/nonexistent\/rahf: cannot load \(/],
  ];
  test.each(cases)('%s', async (_name, args, message) => {
    const r = await run([...args, '--no-progress']);
    expect(r.code).toBe(1);
    expect(r.stderr).toMatch(message);
    expect(r.stderr.trim().split('\n')).toHaveLength(1);
    expect(r.stdout).toBe('');
  });
});
