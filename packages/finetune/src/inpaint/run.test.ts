import * as fs from 'fs';
import * as os from 'os';
import * as path from 'path';
import sharp from 'sharp';
import { Rng } from '@richhf/reward/data';
import { A1111Generator } from '../generators/a1111';
import { SynthModel } from '../synth/checkpoint';
import { SynthGenerator } from '../synth/generator';
import { defaultConfig, initParams } from '../synth/model';
import { startFakeA1111 } from '../testing/fake-a1111';
import { boxMap, MapScorer } from '../testing/map-scorer';
import { runInpaint, summarize, type InpaintLine } from './run';

const TINY = defaultConfig({ hidden_size: 16, num_layers: 1, num_heads: 2, intermediate_size: 32 });
let gen: SynthGenerator;
let dir: string;
beforeAll(async () => {
  const params = initParams(TINY, 5);
  const rng = new Rng('jitter');
  for (const p of params.values()) for (let i = 0; i < p.data.length; i++) p.data[i] += rng.uniform(-0.3, 0.3);
  gen = SynthGenerator.fromModel(await SynthModel.create(TINY, params, 1));
  dir = fs.mkdtempSync(path.join(os.tmpdir(), 'ft-inpaint-'));
});
afterAll(async () => {
  await gen.close();
  fs.rmSync(dir, { recursive: true, force: true });
});

test('scene generator on held-out world prompts: before / mask / after per image, a results line with truth, a summary; a rerun resumes', async () => {
  const out = path.join(dir, 'synth');
  const scorer = new MapScorer(boxMap(64, 64, [0, 0, 64, 64]));
  const s = await runInpaint({ generator: gen, heldOut: 4, out, k: 2, scorer, progress: false, threshold: 0.5 });
  const lines: InpaintLine[] = fs.readFileSync(path.join(out, 'results.jsonl'), 'utf8').trim().split('\n').map((l) => JSON.parse(l));
  expect(lines.map((l) => l.key)).toEqual(['w0-9', 'w0-19', 'w0-29', 'w0-39']);
  for (const l of lines) {
    for (const f of ['before.png', 'mask.png', 'after.png']) expect((await sharp(path.join(out, l.key, f)).metadata()).width).toBe(128);
    expect(l.truth).toBeDefined();
    expect(l.truth!.artifacts_after - l.truth!.artifacts_before).toBe(l.truth!.introduced - l.truth!.removed);
    if (!l.accepted) expect(l.truth!.artifacts_after).toBe(l.truth!.artifacts_before);
    expect(l.plausibility_after).toBeGreaterThanOrEqual(l.plausibility_before);
  }
  expect(s.images).toBe(4);
  expect(s.truth!.share_fell.lo).toBeLessThanOrEqual(s.truth!.share_fell.value);
  expect(JSON.parse(fs.readFileSync(path.join(out, 'summary.json'), 'utf8'))).toEqual(JSON.parse(JSON.stringify(s)));
  // A torn last line (a kill mid-append) is dropped; the run redoes that image only.
  fs.appendFileSync(path.join(out, 'results.jsonl'), '{"key":"w0-4');
  const again = await runInpaint({ generator: gen, heldOut: 5, out, k: 2, scorer, progress: false, threshold: 0.5 });
  expect(again.images).toBe(5);
  expect(fs.readFileSync(path.join(out, 'results.jsonl'), 'utf8').trim().split('\n')).toHaveLength(5);
});

test('summary: shares and per-image means with intervals from the results lines', () => {
  const line = (before: number, after: number, removed: number, introduced: number): InpaintLine => ({
    key: 'k', prompt_id: 'k', prompt: 'p', seed: 1, plausibility_before: 0.5, plausibility_after: 0.6, candidates: [], accepted: after !== before || removed > 0,
    mask_pixels: 1, repainted_pixels: 1, truth: { artifacts_before: before, artifacts_after: after, removed, introduced, plausibility_before: 0.5, plausibility_after: 0.5 },
  });
  const s = summarize([line(2, 1, 1, 0), line(1, 1, 0, 0), line(1, 2, 0, 1), line(3, 1, 2, 0)]);
  expect(s.truth!.share_fell.value).toBe(0.5);
  expect(s.truth!.share_rose.value).toBe(0.25);
  expect(s.truth!.removed.value).toBe(0.75);
  expect(s.truth!.introduced.value).toBe(0.25);
});

test('AUTOMATIC1111: from given images; one-line errors for what cannot work', async () => {
  const server = await startFakeA1111('ok');
  try {
    const images = path.join(dir, 'imgs');
    fs.mkdirSync(images);
    await sharp({ create: { width: 32, height: 32, channels: 3, background: { r: 10, g: 0, b: 0 } } }).png().toFile(path.join(images, 'a.png'));
    const prompts = [{ id: 'a', key: 'a', prompt: 'a cat', line: 0 }];
    const scorer = new MapScorer(boxMap(32, 32, [0, 0, 4, 4]));
    const out = path.join(dir, 'a1111');
    const s = await runInpaint({ generator: new A1111Generator(server.url), prompts, images, out, k: 2, scorer, progress: false, threshold: 0.5, dilate: 0 });
    expect(s).toMatchObject({ images: 1, repainted: 1, accepted: 1 });
    expect(s.truth).toBeUndefined();
    expect(server.requests.map((r) => r.path)).toEqual(['/sdapi/v1/img2img']);
    const mask = await sharp(path.join(out, 'a', 'mask.png')).raw().toBuffer();
    expect([mask[0], mask[(20 * 32 + 20) * 3]]).toEqual([255, 0]);
    await expect(runInpaint({ generator: new A1111Generator(server.url), prompts: [{ ...prompts[0], id: 'b', key: 'b' }], images, out, scorer, progress: false })).rejects.toThrow(/--images .*: no b\.png for prompt "b"/);
    await expect(runInpaint({ generator: new A1111Generator(server.url), heldOut: 3, out, scorer, progress: false })).rejects.toThrow(/--held-out: the world prompts are for --generator synth/);
    await expect(runInpaint({ generator: gen, prompts: [{ id: 'x', key: 'x', prompt: 'a red cat on a sofa', line: 3 }], out: path.join(dir, 'bad'), scorer, progress: false })).rejects.toThrow(/--prompts line 3: "a red cat on a sofa" is not a caption of the synthetic world's grammar/);
  } finally {
    await server.close();
  }
});
