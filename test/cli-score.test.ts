import { spawnSync } from 'child_process';
import * as fs from 'fs';
import * as os from 'os';
import * as path from 'path';
import sharp from 'sharp';
import { readHeatmapPng16 } from '@richhf/reward';
import { displayFactor } from '@richhf/reward/viz';

// End-to-end: the built `rahf` CLI as a user runs it, on a folder of good and bad files.
// The package's `bin` entry (its `exports` map keeps dist/ internals out of reach of imports).
const REWARD = path.dirname(require.resolve('@richhf/reward/package.json'));
const CLI = path.join(REWARD, require(path.join(REWARD, 'package.json')).bin.rahf);

function rahf(args: string[]) {
  const r = spawnSync(process.execPath, [CLI, ...args], { encoding: 'utf8', env: { ...process.env, RAHF_BACKEND: 'wasm', RAHF_CACHE_DIR: path.join(dir, 'onnx-cache') } });
  return { code: r.status, stdout: r.stdout, stderr: r.stderr };
}

let dir: string;
let ckpt: string;

beforeAll(async () => {
  dir = fs.mkdtempSync(path.join(os.tmpdir(), 'rahf-cli-'));
  ckpt = path.join(dir, 'ckpt');
  const init = rahf(['init', '--preset', 'tiny', '--seed', '3', '--out', ckpt]);
  expect(init.code).toBe(0);
  const imgs = path.join(dir, 'imgs');
  fs.mkdirSync(imgs);
  const rgb = () => sharp({ create: { width: 80, height: 60, channels: 3, background: { r: 200, g: 40, b: 40 } } });
  await rgb().png().toFile(path.join(imgs, 'a-good.png'));
  await rgb().jpeg().toFile(path.join(imgs, 'b-good.jpg'));
  await sharp({ create: { width: 50, height: 70, channels: 4, background: { r: 0, g: 90, b: 200, alpha: 0.5 } } })
    .png()
    .toFile(path.join(imgs, 'c-rgba.png'));
  await rgb().toColourspace('cmyk').jpeg().toFile(path.join(imgs, 'd-cmyk.jpg'));
  await rgb().toColourspace('rgb16').png().toFile(path.join(imgs, 'e-16bit.png'));
  fs.writeFileSync(path.join(imgs, 'f-not-an-image.png'), 'hello, I am text\n');
  const jpg = await rgb().jpeg().toBuffer();
  fs.writeFileSync(path.join(imgs, 'g-truncated.jpg'), jpg.subarray(0, Math.floor(jpg.length / 2)));
  fs.writeFileSync(path.join(imgs, 'notes.txt'), 'not scanned');
});

afterAll(() => fs.rmSync(dir, { recursive: true, force: true }));

test('scores the good images of a folder, reports the bad ones at the end, writes heatmaps', () => {
  const out = path.join(dir, 'out');
  const r = rahf(['score', path.join(dir, 'imgs'), path.join(dir, 'missing.png'), '--prompt', 'a red cat', '--checkpoint', ckpt, '--out', out]);
  expect(r.code).toBe(2);
  const lines = r.stdout.trim().split('\n').map((l) => JSON.parse(l));
  expect(lines.map((l) => path.basename(l.file))).toEqual(['a-good.png', 'b-good.jpg', 'c-rgba.png', 'd-cmyk.jpg', 'e-16bit.png']);
  for (const l of lines) {
    expect(l.prompt).toBe('a red cat');
    for (const k of ['plausibility', 'alignment', 'aesthetics', 'overall']) {
      expect(l.scores[k]).toBeGreaterThanOrEqual(0);
      expect(l.scores[k]).toBeLessThanOrEqual(1);
    }
    expect(Array.isArray(l.misaligned)).toBe(true);
  }
  expect(r.stderr).toMatch(/3 of 8 image\(s\) failed/);
  expect(r.stderr).toMatch(/f-not-an-image\.png: .*not an image/);
  expect(r.stderr).toMatch(/g-truncated\.jpg: .*(truncated|corrupt)/);
  expect(r.stderr).toMatch(/missing\.png: no such file/);
  expect(r.stderr).not.toMatch(/\n\s+at /); // no stack trace
  for (const kind of ['implausibility', 'misalignment']) {
    for (const suffix of ['png', 'overlay.png']) {
      const f = path.join(out, `c-rgba.${kind}.${suffix}`);
      expect(fs.existsSync(f)).toBe(true);
    }
  }
});

test('raw heatmaps are 16-bit PNGs whose scale is in the JSON line; overlays are enlarged figures', async () => {
  const out = path.join(dir, 'out-one');
  const r = rahf(['score', path.join(dir, 'imgs', 'c-rgba.png'), '--prompt', 'a blue cat', '--checkpoint', ckpt, '--out', out]);
  expect(r.code).toBe(0);
  const h = JSON.parse(r.stdout.trim()).heatmaps.implausibility;
  expect(h.file).toBe(path.join(out, 'c-rgba.implausibility.png'));
  const meta = await sharp(h.file).metadata();
  expect([meta.width, meta.height, meta.channels, meta.depth]).toEqual([h.width, h.height, 1, 'ushort']);
  const map = await readHeatmapPng16(h.file, h.scale);
  expect(Math.max(...map.data)).toBeCloseTo(h.max, 6);
  const k = displayFactor(50, 70);
  const over = await sharp(h.overlay).metadata();
  expect(over.width).toBeGreaterThan(50 * k); // the image enlarged k times, then the legend strip
  expect(over.height).toBeGreaterThanOrEqual(70 * k);
});

test('prompts from JSONL; an empty prompt fails only its image', () => {
  const pj = path.join(dir, 'prompts.jsonl');
  fs.writeFileSync(pj, [JSON.stringify({ file: 'a-good.png', prompt: 'a cat' }), JSON.stringify({ file: 'b-good.jpg', prompt: '  ' })].join('\n'));
  const r = rahf(['score', path.join(dir, 'imgs', 'a-good.png'), path.join(dir, 'imgs', 'b-good.jpg'), '--prompts', pj, '--checkpoint', ckpt]);
  expect(r.code).toBe(2);
  const lines = r.stdout.trim().split('\n').map((l) => JSON.parse(l));
  expect(lines).toHaveLength(1);
  expect(lines[0].prompt).toBe('a cat');
  expect(r.stderr).toMatch(/b-good\.jpg: empty prompt/);
});

function brokenCheckpoint(name: string, mutate: (d: string) => void): string {
  const d = path.join(dir, name);
  fs.cpSync(ckpt, d, { recursive: true });
  mutate(d);
  return d;
}

test.each([
  ['no weights', (d: string) => fs.rmSync(path.join(d, 'model.safetensors')), /no model weights/],
  [
    'lying safetensors header',
    (d: string) => {
      const f = path.join(d, 'model.safetensors');
      const b = fs.readFileSync(f);
      b.writeBigUInt64LE(BigInt(b.length * 4), 0);
      fs.writeFileSync(f, b);
    },
    /model\.safetensors: .*header/,
  ],
  ['tokenizer not JSON', (d: string) => fs.writeFileSync(path.join(d, 'tokenizer.json'), '<html>'), /tokenizer\.json: .*JSON/],
])('checkpoint with %s: one-line error naming the file, exit 1', (name, mutate, pattern) => {
  const bad = brokenCheckpoint(String(name).replace(/\W+/g, '-'), mutate as (d: string) => void);
  const r = rahf(['score', path.join(dir, 'imgs', 'a-good.png'), '--prompt', 'a cat', '--checkpoint', bad]);
  expect(r.code).toBe(1);
  expect(r.stdout).toBe('');
  const lines = r.stderr.trim().split('\n').filter((l) => !l.startsWith('rahf: tfjs backend'));
  expect(lines).toHaveLength(1);
  expect(lines[0]).toMatch(pattern as RegExp);
  expect(lines[0]).toContain(bad);
});

test('--verbose adds the stack trace', () => {
  const r = rahf(['score', path.join(dir, 'imgs', 'a-good.png'), '--prompt', 'x', '--checkpoint', path.join(dir, 'nowhere'), '--verbose']);
  expect(r.code).toBe(1);
  expect(r.stderr).toMatch(/\n\s+at /);
});
