import * as fs from 'fs';
import * as os from 'os';
import * as path from 'path';
import { openScorer } from '@richhf/reward';
import { runCli } from '../testing/child-cli';

// `finetune generator train | eval`, `finetune inpaint`, `finetune proof` as a user runs them (a separate process).

let dir: string;
let cache: string;
beforeAll(async () => {
  dir = fs.mkdtempSync(path.join(os.tmpdir(), 'ft-synth-cli-'));
  cache = path.join(dir, 'cache');
  await (await openScorer(undefined, { engine: 'ort', cacheDir: cache, log: () => undefined })).dispose();
});
afterAll(() => fs.rmSync(dir, { recursive: true, force: true }));

const tiny = ['--hidden', '16', '--layers', '1', '--heads', '2', '--ff', '32', '--batch', '4', '--scenes', '64', '--cache-dir', path.join(os.tmpdir(), 'ft-synth-cli-cache')];

test('generator train: progress, a checkpoint, a one-line refusal to overwrite a run; --resume goes on; eval prints truth rates', async () => {
  const out = path.join(dir, 'gen');
  const r = await runCli(['generator', 'train', '--out', out, '--steps', '6', ...tiny]);
  expect(r.code).toBe(0);
  expect(r.stderr).toMatch(/train 6\/6 \(100%\) [\d.]+ steps\/s elapsed \S+ eta \S+ loss [\d.]+ lr /);
  expect(r.stdout).toMatch(/^trained at step 6 of 6 in \S+; masked-token loss [\d.]+ \(last 50 steps\)\ncheckpoint: .*gen \(config\.json, model\.safetensors\)\n$/);
  for (const f of ['config.json', 'model.safetensors', 'train-state.safetensors', 'run.json']) expect(fs.existsSync(path.join(out, f))).toBe(true);
  const again = await runCli(['generator', 'train', '--out', out, '--steps', '6', ...tiny]);
  expect([again.code, again.stderr.trim()]).toEqual([1, `finetune: --out ${out} holds a training run already; pass --resume to continue it or choose another folder`]);
  const more = await runCli(['generator', 'train', '--out', out, '--steps', '8', '--resume', ...tiny]);
  expect(more.stdout).toMatch(/^trained at step 8 of 8/);
  const ev = await runCli(['generator', 'eval', '--checkpoint', out, '--n', '20', '--train-scenes', '64', '--cache-dir', path.join(os.tmpdir(), 'ft-synth-cli-cache'), '--json']);
  expect(ev.code).toBe(0);
  const j = JSON.parse(ev.stdout);
  expect(Object.keys(j)).toEqual(['n', 'seed', 'generator', 'world', 'copies', 'scenes_per_s']);
  expect(j.generator.n).toBe(20);
  expect(j.copies).toMatchObject({ of: 20, training_scenes: 64 });
});

test('inpaint with the scene generator on held-out prompts: files, a summary with the truth; bad input is one line', async () => {
  const gen = path.join(dir, 'gen');
  const out = path.join(dir, 'inpaint');
  const r = await runCli(['inpaint', '--generator', `synth:${gen}`, '--held-out', '3', '--k', '2', '--out', out, '--cache-dir', cache, '--engine', 'ort']);
  expect(r.code).toBe(0);
  expect(r.stdout).toMatch(/^3 images: \d+ with a region to repaint, \d+ repainted \(predicted plausibility rose\)$/m);
  expect(r.stdout).toMatch(/^truth: true artifacts fell in [\d.]+ \[[\d.]+, [\d.]+\] of images/m);
  expect(fs.readdirSync(path.join(out, 'w0-9')).sort()).toEqual(['after.png', 'before.png', 'mask.png']);
  const cases: Array<[string[], RegExp]> = [
    [['inpaint', '--generator', `folder:${dir}`, '--prompts', 'x', '--out', path.join(dir, 'x1')], /^finetune: --generator folder: inpainting needs synth or a1111:URL$/],
    [['inpaint', '--generator', `synth:${gen}`, '--out', path.join(dir, 'x2'), '--cache-dir', cache], /^finetune: give --prompts FILE \(or, with --generator synth, --held-out N\)$/],
    [['inpaint', '--generator', `synth:${gen}`, '--held-out', '2', '--k', '0', '--out', path.join(dir, 'x3')], /^finetune: --k must be an integer ≥ 1, got 0$/],
    [['proof', '--samples', '0', '--work', path.join(dir, 'x4')], /^finetune: --samples must be an integer ≥ 1, got 0$/],
    [['generator', 'eval', '--checkpoint', dir], /^finetune: .*: not a scene-generator checkpoint \(no config\.json\)$/],
    [['generator', 'train', '--out', path.join(dir, 'x5'), '--replay', '1', ...tiny], /^finetune: --replay mixes the world into a finetune: it needs --kept$/],
  ];
  for (const [args, re] of cases) {
    const c = await runCli(args);
    expect(c.code).toBe(1);
    expect(c.stderr.trim()).toMatch(re);
  }
});
