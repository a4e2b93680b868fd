import * as fs from 'fs';
import * as os from 'os';
import * as path from 'path';
import sharp from 'sharp';
import { writeSafetensors, type HostTensor } from '@richhf/reward/io';
import { packageFixturesDir } from '../testing/parity';
import { captureRun, writeSdTinyWithVae } from '../testing/capture-run';
import { cli } from './main';

// `guide sample --reward …` on the sd_tiny folder (8×8 latents → 16 px through the vae_kl fixture, which is
// also the differentiable guidance decoder) with the reward package's bundled checkpoint.

let tmp: string;
let model: string;
const vaeKl = path.join(packageFixturesDir(), 'vae_kl');

beforeAll(async () => {
  tmp = fs.mkdtempSync(path.join(os.tmpdir(), 'guide-cli-reward-'));
  model = path.join(tmp, 'model');
  await writeSdTinyWithVae(model);
});
afterAll(() => fs.rmSync(tmp, { recursive: true, force: true }));

const run = (args: string[]) => captureRun(() => cli(args).parseAsync());

const common = (): string[] => ['--model', model, '--prompt', 'a red cat', '--steps', '3', '--size', '16', '--seed', '11', '--threads', '1', '--no-progress', '--vae', vaeKl];

test('--compare writes the guided image, the unguided one at the same seed, both side by side, and their RAHF scores', async () => {
  const out = path.join(tmp, 'compare');
  const r = await run(['sample', ...common(), '--n', '2', '--reward', 'aesthetics=1,overall=1', '--scale', '300', '--window', '0:0.7', '--compare', '--out', out]);
  expect(r.stderr).toContain('guide: wrote 2 images');
  expect(r.code).toBe(0);
  const lines = r.stdout.trim().split('\n').map((l) => JSON.parse(l));
  expect(lines).toHaveLength(2);
  for (const l of lines) {
    expect(Object.keys(l.scores).sort()).toEqual(['aesthetics', 'alignment', 'overall', 'plausibility']);
    expect(l.guidance).toEqual({ weights: { aesthetics: 1, overall: 1 }, scale: 300, window: '0:0.7', recurrence: 1, normalize: false, skipped: 0 });
    expect(path.basename(l.unguided.file)).toBe(path.basename(l.file).replace('.png', '-unguided.png'));
    expect(Object.keys(l.unguided.scores)).toHaveLength(4);
    expect(await sharp(l.compare).metadata()).toMatchObject({ width: 16 * 2 + 4, height: 16 });
    expect(fs.readFileSync(l.file).equals(fs.readFileSync(l.unguided.file))).toBe(false);
  }
  // A rerun finds every file and skips.
  const again = await run(['sample', ...common(), '--n', '2', '--reward', 'aesthetics=1,overall=1', '--scale', '300', '--window', '0:0.7', '--compare', '--out', out]);
  expect(again.stderr).toContain('(2 already there, skipped)');
});

test('scale 0 gives exactly the unguided image', async () => {
  const out = path.join(tmp, 'zero');
  const r = await run(['sample', ...common(), '--reward', 'overall', '--scale', '0', '--compare', '--out', out]);
  expect(r.code).toBe(0);
  const [l] = r.stdout.trim().split('\n').map((x) => JSON.parse(x));
  expect(fs.readFileSync(l.file).equals(fs.readFileSync(l.unguided.file))).toBe(true);
  expect(l.scores).toEqual(l.unguided.scores);
});

test('--heatmap-penalty is recorded and changes the guided image; 0 leaves it as without the flag', async () => {
  const args = (dir: string, extra: string[]) => ['sample', ...common(), '--reward', 'overall', '--scale', '300', ...extra, '--out', path.join(tmp, dir)];
  const rows = async (dir: string, extra: string[]) => {
    const r = await run(args(dir, extra));
    expect(r.code).toBe(0);
    return r.stdout.trim().split('\n').map((x) => JSON.parse(x))[0];
  };
  const plain = await rows('hp-none', []);
  const zero = await rows('hp-zero', ['--heatmap-penalty', '0']);
  const on = await rows('hp-on', ['--heatmap-penalty', '30']);
  expect(plain.guidance.heatmapPenalty).toBeUndefined();
  expect(on.guidance).toMatchObject({ weights: { overall: 1 }, heatmapPenalty: 30, scale: 300 });
  expect(fs.readFileSync(zero.file).equals(fs.readFileSync(plain.file))).toBe(true);
  expect(fs.readFileSync(on.file).equals(fs.readFileSync(plain.file))).toBe(false);
});

describe('bad guidance input: one line naming the option, exit code 1, nothing written', () => {
  // A decoder for 3-channel latents: TAESD's layout with tiny channel counts (weights never run).
  const threeChannel = () => {
    const dir = path.join(tmp, 'ae3');
    const config = { _class_name: 'AutoencoderTiny', latent_channels: 3, decoder_block_out_channels: [4, 4], num_decoder_blocks: [1, 1] };
    const conv = (o: number, i: number, bias = true) => [[`.weight`, [o, i, 3, 3]], ...(bias ? [[`.bias`, [o]]] : [])] as [string, number[]][];
    const layers: [string, [string, number[]][]][] = [
      ['decoder.layers.0', conv(4, 3)],
      ['decoder.layers.2.conv.0', conv(4, 4)],
      ['decoder.layers.2.conv.2', conv(4, 4)],
      ['decoder.layers.2.conv.4', conv(4, 4)],
      ['decoder.layers.4', conv(4, 4, false)],
      ['decoder.layers.5.conv.0', conv(4, 4)],
      ['decoder.layers.5.conv.2', conv(4, 4)],
      ['decoder.layers.5.conv.4', conv(4, 4)],
      ['decoder.layers.6', conv(3, 4)],
    ];
    const tensors: Record<string, HostTensor> = {};
    for (const [prefix, parts] of layers) for (const [suffix, shape] of parts) tensors[prefix + suffix] = { dtype: 'float32', shape, data: new Float32Array(shape.reduce((a, b) => a * b, 1)) };
    fs.mkdirSync(dir, { recursive: true });
    writeSafetensors(path.join(dir, 'diffusion_pytorch_model.safetensors'), tensors);
    fs.writeFileSync(path.join(dir, 'config.json'), JSON.stringify(config));
    return dir;
  };
  const cases: Array<[string, () => string[], RegExp]> = [
    ['unknown score', () => ['--reward', 'beauty=1'], /^guide: --reward: unknown score "beauty" \(expected plausibility, alignment, aesthetics, overall\)\n$/],
    ['NaN scale', () => ['--reward', 'overall', '--scale', 'nan'], /^guide: --scale NaN: expected a finite number ≥ 0\n$/],
    ['negative scale', () => ['--reward', 'overall', '--scale', '-2'], /^guide: --scale -2: expected a finite number ≥ 0\n$/],
    ['window outside [0, 1]', () => ['--reward', 'overall', '--window', '0.2:1.5'], /^guide: --window: to 1.5 is outside \[0, 1\] \(a fraction of the steps\)\n$/],
    ['a guidance option without --reward', () => ['--scale', '2'], /^guide: --scale: reward guidance is off; add --reward/],
    ['a negative heatmap penalty', () => ['--reward', 'overall', '--heatmap-penalty', '-1'], /^guide: --heatmap-penalty -1: expected a finite number ≥ 0 \(0 = no heatmap penalty\)\n$/],
    ['a heatmap penalty without --reward', () => ['--heatmap-penalty', '1'], /^guide: --heatmap-penalty: reward guidance is off; add --reward/],
    ['--compare without --reward', () => ['--compare'], /^guide: --compare: compares guided with unguided images; add --reward\n$/],
    ['a reward checkpoint that cannot load', () => ['--reward', 'overall', '--reward-checkpoint', path.join(tmp, 'no-such-checkpoint')], /^guide: --reward-checkpoint .*no-such-checkpoint: cannot load \(/],
    ['a decoder of other latent channels', () => ['--reward', 'overall', '--guide-vae', threeChannel()], /^guide: .*ae3: the guidance decoder takes 3-channel latents but .*unet\/model.onnx makes 4\n$/],
  ];
  test.each(cases)('%s', async (name, args, message) => {
    const out = path.join(tmp, `never-${name.replace(/\W+/g, '-')}`);
    const r = await run(['sample', ...common(), ...args(), '--out', out]);
    expect(r.code).toBe(1);
    expect(r.stderr).toMatch(message);
    expect(r.stderr.trim().split('\n')).toHaveLength(1);
    expect(r.stdout).toBe('');
    expect(fs.existsSync(out)).toBe(false);
  });
});
