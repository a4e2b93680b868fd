import * as fs from 'fs';
import * as os from 'os';
import * as path from 'path';
import sharp from 'sharp';
import { buildAll } from '../builder';
import { GeneratorError } from '../generator';
import { candidateSeeds } from '../ids';
import { startFakeA1111 } from '../testing/fake-a1111';
import { ColourScorer } from '../testing/fake-scorer';
import { readTar, verifyOutput } from '../verify';
import { A1111Generator } from './a1111';

const req = (n: number, seed = 1000) => ({ promptId: 'p', promptKey: 'p', prompt: 'a cat', n, seeds: Array.from({ length: n }, (_, k) => seed + k) });
const red = async (b: Uint8Array) => (await sharp(b).raw().toBuffer())[0];
const servers: Array<{ close: () => Promise<void> }> = [];
afterEach(async () => {
  await Promise.all(servers.splice(0).map((s) => s.close()));
});
async function fake(...a: Parameters<typeof startFakeA1111>) {
  const s = await startFakeA1111(...a);
  servers.push(s);
  return s;
}

test('txt2img: one batch per prompt, settings passed through, seeds from info.all_seeds, images decoded from base64', async () => {
  const s = await fake('ok');
  const g = new A1111Generator(s.url, { params: { steps: 12, width: 40, height: 30, cfg_scale: 5 } });
  const cands = await g.generate(req(3, 1000));
  expect(s.requests).toHaveLength(1);
  const body = JSON.parse(s.requests[0].body);
  expect(body).toMatchObject({ prompt: 'a cat', seed: 1000, batch_size: 3, n_iter: 1, steps: 12, width: 40, height: 30, send_images: true, save_images: false });
  expect(cands.map((c) => [c.index, c.seed])).toEqual([[0, 1000], [1, 1001], [2, 1002]]);
  expect(await Promise.all(cands.map((c) => red(c.bytes)))).toEqual([1000 % 256, 1001 % 256, 1002 % 256]);
  expect(cands[0].settings).toMatchObject({ generator: 'a1111', steps: 12, cfg_scale: 5, width: 40, sd_model_name: 'fake-model', sampler_name: 'Euler a' });
  expect((await sharp(cands[0].bytes).metadata()).width).toBe(40);
});

test('a batch_size smaller than N becomes n_iter batches; a returned grid is skipped', async () => {
  const s = await fake('grid');
  const cands = await new A1111Generator(s.url, { params: { batch_size: 2 } }).generate(req(3, 500));
  expect(JSON.parse(s.requests[0].body)).toMatchObject({ batch_size: 2, n_iter: 2 });
  expect(await Promise.all(cands.map((c) => red(c.bytes)))).toEqual([500 % 256, 501 % 256, 502 % 256]);
});

test('img2img with a mask for inpainting', async () => {
  const s = await fake('ok');
  const image = new Uint8Array(await sharp({ create: { width: 8, height: 8, channels: 3, background: '#808080' } }).png().toBuffer());
  const mask = new Uint8Array(await sharp({ create: { width: 8, height: 8, channels: 3, background: '#ffffff' } }).png().toBuffer());
  const cands = await new A1111Generator(s.url).inpaint({ ...req(2, 42), image, mask, params: { denoising_strength: 0.5 } });
  const body = JSON.parse(s.requests[0].body);
  expect(s.requests[0].path).toBe('/sdapi/v1/img2img');
  expect(body).toMatchObject({ denoising_strength: 0.5, inpainting_fill: 1, batch_size: 2, seed: 42, prompt: 'a cat' });
  expect(Buffer.from(body.init_images[0], 'base64').equals(Buffer.from(image))).toBe(true);
  expect(Buffer.from(body.mask, 'base64').equals(Buffer.from(mask))).toBe(true);
  expect(cands.map((c) => c.seed)).toEqual([42, 43]);
  expect(cands[0].settings.route).toBe('img2img');
});

test('faults are one-line GeneratorErrors: unreachable, HTTP 500 (retried), not JSON, too few images, slow', async () => {
  const fast = { retries: 2, retryDelayMs: 10 };
  const closed = await fake('ok');
  const deadUrl = closed.url;
  await closed.close();
  const cases: Array<[string, RegExp, () => Promise<unknown>]> = [
    ['unreachable', /^a1111 http:\/\/127\.0\.0\.1:\d+: unreachable \(ECONNREFUSED\) \(after 2 tries\)$/, () => new A1111Generator(deadUrl, fast).generate(req(1))],
    ['error', /answered HTTP 500 \(CUDA out of memory\. Tried to allocate 2\.00 GiB\) \(after 2 tries\)/, async () => new A1111Generator((await fake('error')).url, fast).generate(req(1))],
    ['garbage', /answered with something that is not JSON \("<html><body>Gradio UI/, async () => new A1111Generator((await fake('garbage')).url, fast).generate(req(1))],
    ['short', /unexpected answer for prompt "p": 1 images for 3 candidates/, async () => new A1111Generator((await fake('short')).url, fast).generate(req(3))],
    ['slow', /no answer from .*txt2img within 0\.2 s/, async () => new A1111Generator((await fake('slow', { delayMs: 1500 })).url, { ...fast, retries: 1, timeoutSeconds: 0.2 }).generate(req(1))],
  ];
  for (const [name, re, run] of cases) {
    const e = (await run().catch((x) => x)) as Error;
    expect([name, e]).toEqual([name, expect.any(GeneratorError)]);
    expect(e.message).toMatch(re);
    expect(e.message).not.toContain('\n');
  }
  // A transient failure (first request 500) is retried and succeeds.
  const flaky = await fake('flaky');
  expect(await new A1111Generator(flaky.url, fast).generate(req(2))).toHaveLength(2);
  expect(flaky.calls()).toBe(2);
});

test('the builder over a1111: seeds in the outputs, an undecodable image stops with one line, a dead server keeps earlier work', async () => {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'ft-a1111-'));
  try {
    const prompts = path.join(dir, 'p.txt');
    fs.writeFileSync(prompts, 'a cat\na dog\n');
    const s = await fake('ok');
    const out = path.join(dir, 'out');
    const opts = { prompts, generator: `a1111:${s.url}`, n: 3, out, progress: false, scorer: new ColourScorer(), formats: ['webdataset' as const], generatorOptions: { retries: 1 } };
    const sum = await buildAll(opts);
    expect(sum).toMatchObject({ processed: 2, candidates: 6 });
    // ColourScorer ranks by red = seed mod 256: the best candidate is the one whose seed has the largest residue.
    const seeds = candidateSeeds(0, '0', 3);
    const best = seeds.reduce((a, b) => (b % 256 > a % 256 ? b : a));
    const json = JSON.parse((await readTar(path.join(out, 'webdataset', '000000.tar'))).find((m) => m.name.startsWith('0_') && m.name.endsWith('.json'))!.data.toString());
    expect(json).toMatchObject({ seed: best, candidate: seeds.indexOf(best), generator: { generator: 'a1111', sd_model_name: 'fake-model' } });

    const bad = await fake('bad-image');
    const e = await buildAll({ ...opts, out: path.join(dir, 'out2'), generator: `a1111:${bad.url}` }).catch((x) => x);
    expect(e.message).toMatch(/^a1111 http:\/\/127\.0\.0\.1:\d+\/sdapi\/v1\/txt2img#0: candidate 0 of prompt "0" does not decode/);

    // The server fails after the first prompt: the run stops with its message, the first prompt committed;
    // the same command against a working server resumes with the second.
    const dies = await fake('dies');
    const out3 = path.join(dir, 'out3');
    const e3 = await buildAll({ ...opts, out: out3, generator: `a1111:${dies.url}`, concurrency: 1 }).catch((x) => x);
    expect(e3).toBeInstanceOf(GeneratorError);
    expect(e3.message).toMatch(/answered HTTP 500 \(CUDA out of memory/);
    expect((await verifyOutput(out3)).prompts).toBe(1);
    dies.setMode('ok');
    const again = await buildAll({ ...opts, out: out3, generator: `a1111:${dies.url}` });
    expect(again).toMatchObject({ skipped: 1, processed: 1 });
    expect((await verifyOutput(out3)).problems).toEqual([]);
  } finally {
    fs.rmSync(dir, { recursive: true, force: true });
  }
});
