import * as fs from 'fs';
import * as os from 'os';
import * as path from 'path';
import sharp from 'sharp';
import { packageFixturesDir } from '../testing/parity';
import { writeToyUNet, writeToyVaeDecoder } from '../testing/toy-graphs';
import { captureRun, writeSdTinyWithVae } from '../testing/capture-run';
import { cli } from './main';

// `guide sample` end to end on an optimum folder assembled from the sd_tiny fixtures (vae_decoder/ exported
// from ../vae_kl: 8×8 latents → 16 px images), run in-process as the binary would run it.

let tmp: string;
let model: string;
const vaeKl = path.join(packageFixturesDir(), 'vae_kl');

beforeAll(async () => {
  tmp = fs.mkdtempSync(path.join(os.tmpdir(), 'guide-cli-'));
  model = path.join(tmp, 'model');
  await writeSdTinyWithVae(model);
});
afterAll(() => fs.rmSync(tmp, { recursive: true, force: true }));

const run = (args: string[]) => captureRun(() => cli(args).parseAsync());

const common = ['--steps', '3', '--size', '16', '--seed', '11', '--no-progress'];

test('PNGs and one JSON line per image; a rerun resumes instead of redoing', async () => {
  const out = path.join(tmp, 'out1');
  const args = ['sample', '--model', model, '--prompt', 'a red cat', '--prompt', 'a photo', '--n', '2', ...common, '--out', out];
  const first = await run(args);
  expect(first.code).toBe(0);
  const lines = first.stdout.trim().split('\n').map((l) => JSON.parse(l));
  expect(lines.map((l) => [l.prompt, l.seed, path.basename(l.file)])).toEqual([
    ['a red cat', 11, '0000-0-s11.png'],
    ['a red cat', 12, '0000-1-s12.png'],
    ['a photo', 13, '0001-0-s13.png'],
    ['a photo', 14, '0001-1-s14.png'],
  ]);
  expect(lines[0]).toMatchObject({ negative: '', steps: 3, scheduler: 'ddim', cfg: 7.5, width: 16, height: 16, model });
  for (const l of lines) expect(await sharp(l.file).metadata()).toMatchObject({ width: 16, height: 16, format: 'png' });
  expect(fs.readFileSync(path.join(out, 'images.jsonl'), 'utf8').trim().split('\n').map((l) => JSON.parse(l))).toEqual(lines);
  expect(first.stderr).toContain('guide: wrote 4 images to');

  const second = await run(args);
  expect(second.code).toBe(0);
  expect(second.stdout).toBe('');
  expect(second.stderr).toContain('wrote 0 images to');
  expect(second.stderr).toContain('(4 already there, skipped)');

  const before = fs.readFileSync(lines[2].file);
  fs.rmSync(lines[2].file);
  const third = await run(args);
  expect(third.stdout.trim().split('\n').map((l) => JSON.parse(l).seed)).toEqual([13, 14]);
  expect(fs.readFileSync(lines[2].file).equals(before)).toBe(true);
  expect(fs.readFileSync(path.join(out, 'images.jsonl'), 'utf8').trim().split('\n')).toHaveLength(4);
});

test('per-step progress on stderr, a scheduler by name, a prompts file, --vae instead of vae_decoder/', async () => {
  const bare = path.join(tmp, 'no_vae');
  fs.cpSync(model, bare, { recursive: true });
  fs.rmSync(path.join(bare, 'vae_decoder'), { recursive: true });
  const promptsFile = path.join(tmp, 'prompts.txt');
  fs.writeFileSync(promptsFile, 'a red cat\n\na photo\n');
  const out = path.join(tmp, 'out2');
  const r = await run(['sample', '--model', bare, '--vae', vaeKl, '--prompts', promptsFile, '--scheduler', 'euler-a', '--steps', '2', '--size', '16', '--seed', '3', '--out', out]);
  expect(r.code).toBe(0);
  const lines = r.stdout.trim().split('\n').map((l) => JSON.parse(l));
  expect(lines.map((l) => [l.prompt, l.scheduler, l.vae])).toEqual([
    ['a red cat', 'euler-a', vaeKl],
    ['a photo', 'euler-a', vaeKl],
  ]);
  expect(r.stderr).toMatch(/sample 4\/4 \(100%\) [\d.]+ step\/s/);
});

describe('bad input: one line on stderr naming the file or option, exit code 1, nothing written', () => {
  const cases: Array<[string, () => string[], RegExp]> = [
    ['size not divisible by 8', () => ['--model', model, '--prompt', 'x', '--size', '100'], /^guide: --size 100: not a multiple of 8\n$/],
    ['steps < 1', () => ['--model', model, '--prompt', 'x', '--steps', '0'], /^guide: --steps 0: expected an integer ≥ 1\n$/],
    ['unknown scheduler', () => ['--model', model, '--prompt', 'x', '--scheduler', 'heun'], /^guide: --scheduler 'heun': unknown scheduler; expected one of ddim, euler, euler-a, ddpm\n$/],
    ['no prompt', () => ['--model', model], /^guide: --prompt: required \(or --prompts FILE\)\n$/],
    [
      'a model folder without a UNet',
      () => {
        const dir = path.join(tmp, 'bad_no_unet');
        fs.cpSync(model, dir, { recursive: true });
        fs.rmSync(path.join(dir, 'unet'), { recursive: true });
        return ['--model', dir, '--prompt', 'x'];
      },
      /^guide: .*bad_no_unet\/unet\/model.onnx: no such file \(expected the optimum ONNX layout/,
    ],
    [
      'an ONNX graph whose inputs are not the expected ones',
      () => {
        const dir = path.join(tmp, 'bad_graph');
        fs.cpSync(model, dir, { recursive: true });
        writeToyUNet(path.join(dir, 'unet', 'model.onnx'), { inputNames: ['latents', 'timestep', 'encoder_hidden_states'] });
        return ['--model', dir, '--prompt', 'x'];
      },
      /^guide: .*bad_graph\/unet\/model.onnx: graph inputs are \(latents: float32 \[batch, 4, h, w\], .*\); expected sample, timestep, encoder_hidden_states/,
    ],
    [
      'latent channels the decoder does not take',
      () => {
        const dir = path.join(tmp, 'bad_vae');
        fs.cpSync(model, dir, { recursive: true });
        fs.rmSync(path.join(dir, 'vae_decoder'), { recursive: true });
        writeToyVaeDecoder(path.join(dir, 'vae_decoder'), 3);
        return ['--model', dir, '--prompt', 'x'];
      },
      /^guide: .*bad_vae\/vae_decoder: the decoder takes 3-channel latents but .*unet\/model.onnx makes 4\n$/,
    ],
  ];
  test.each(cases)('%s', async (_name, args, message) => {
    const out = path.join(tmp, `never-${_name.replace(/\W+/g, '-')}`);
    const r = await run(['sample', ...args(), '--out', out, '--no-progress']);
    expect(r.code).toBe(1);
    expect(r.stderr).toMatch(message);
    expect(r.stderr.trim().split('\n')).toHaveLength(1);
    expect(r.stdout).toBe('');
    expect(fs.existsSync(out)).toBe(false);
  });

  test('--verbose adds the stack', async () => {
    const r = await run(['sample', '--model', model, '--prompt', 'x', '--steps', '0', '--verbose']);
    expect(r.stderr).toMatch(/^guide: UserError: --steps 0: expected an integer ≥ 1\n\s+at /);
  });
});
