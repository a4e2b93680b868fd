import * as fs from 'fs';
import * as os from 'os';
import * as path from 'path';
import sharp from 'sharp';
import { UserError } from '@richhf/reward';
import { buildAll } from '../builder';
import { GeneratorError } from '../generator';
import { DEFAULT_WORKFLOW, startFakeComfyUI } from '../testing/fake-comfyui';
import { ColourScorer } from '../testing/fake-scorer';
import { verifyOutput } from '../verify';
import { ComfyUIGenerator, findSlots } from './comfyui';

let dir: string;
let workflow: string;
const servers: Array<{ close: () => Promise<void> }> = [];
beforeEach(() => {
  dir = fs.mkdtempSync(path.join(os.tmpdir(), 'ft-comfy-'));
  workflow = path.join(dir, 'wf.json');
  fs.writeFileSync(workflow, JSON.stringify(DEFAULT_WORKFLOW));
});
afterEach(async () => {
  await Promise.all(servers.splice(0).map((s) => s.close()));
  fs.rmSync(dir, { recursive: true, force: true });
});
async function fake(...a: Parameters<typeof startFakeComfyUI>) {
  const s = await startFakeComfyUI(...a);
  servers.push(s);
  return s;
}
const req = (n: number) => ({ promptId: 'p', promptKey: 'p', prompt: 'a red cat', n, seeds: Array.from({ length: n }, (_, k) => 700 + k) });
const fast = { retries: 1, retryDelayMs: 5, pollMs: 10 };

test('finds the sampler seed, the positive text and the batch size; --param names them when the workflow is ambiguous', () => {
  expect(findSlots(DEFAULT_WORKFLOW, 'wf.json')).toEqual({ promptNode: '6', seedNode: '3', seedInput: 'seed', batchNode: '5' });
  const two = { ...DEFAULT_WORKFLOW, '10': { class_type: 'KSampler', inputs: { ...DEFAULT_WORKFLOW['3'].inputs } } };
  expect(() => findSlots(two, 'wf.json')).toThrow(/several nodes take a seed \(3, 10\); pass --param seed_node=ID/);
  expect(findSlots(two, 'wf.json', { seed_node: 10 })).toMatchObject({ seedNode: '10', promptNode: '6' });
  const advanced = { a: { class_type: 'RandomNoise', inputs: { noise_seed: 1 } }, b: { class_type: 'CLIPTextEncode', inputs: { text: 'x' } } };
  expect(findSlots(advanced, 'wf.json')).toEqual({ promptNode: 'b', seedNode: 'a', seedInput: 'noise_seed', batchNode: undefined });
  expect(() => findSlots({ a: { class_type: 'X', inputs: {} } }, 'wf.json')).toThrow(/no node has a numeric seed/);
});

test('each candidate is the workflow with prompt and seed patched, queued, polled in /history and fetched with /view', async () => {
  const s = await fake('ok');
  const g = new ComfyUIGenerator(s.url, { workflow, ...fast });
  const cands = await g.generate(req(3));
  const posts = s.requests.filter((r) => r.path === '/prompt').map((r) => JSON.parse(r.body));
  expect(posts).toHaveLength(3);
  expect(posts.map((p) => [p.prompt['6'].inputs.text, p.prompt['3'].inputs.seed, p.prompt['5'].inputs.batch_size])).toEqual([
    ['a red cat', 700, 1],
    ['a red cat', 701, 1],
    ['a red cat', 702, 1],
  ]);
  expect(posts[0].prompt['7'].inputs.text).toBe('text, watermark'); // the negative prompt is left alone
  expect(typeof posts[0].client_id).toBe('string');
  expect(s.requests.some((r) => r.path.startsWith('/history/'))).toBe(true);
  expect(s.requests.filter((r) => r.path.startsWith('/view?'))).toHaveLength(3);
  expect(cands.map((c) => c.seed)).toEqual([700, 701, 702]);
  expect(await Promise.all(cands.map(async (c) => (await sharp(c.bytes).raw().toBuffer())[0]))).toEqual([700 % 256, 701 % 256, 702 % 256]);
});

test('faults: validation errors, execution errors, garbage, a workflow that never finishes, no output image, a bad --workflow', async () => {
  const cases: Array<[string, RegExp, () => Promise<unknown>]> = [
    ['node-error', /\/prompt answered HTTP 400 \(Prompt outputs failed validation\)/, async () => new ComfyUIGenerator((await fake('node-error')).url, { workflow, ...fast }).generate(req(1))],
    ['exec-error', /prompt "p" failed in the workflow \(Allocation on device 0 would exceed allowed memory\.\)/, async () => new ComfyUIGenerator((await fake('exec-error')).url, { workflow, ...fast }).generate(req(1))],
    ['garbage', /answered with something that is not JSON \("<!doctype html>/, async () => new ComfyUIGenerator((await fake('garbage')).url, { workflow, ...fast }).generate(req(1))],
    ['never', /prompt "p" not finished within 0\.3 s/, async () => new ComfyUIGenerator((await fake('never')).url, { workflow, ...fast, timeoutSeconds: 0.3 }).generate(req(1))],
    ['no-output', /finished without an output image/, async () => new ComfyUIGenerator((await fake('no-output')).url, { workflow, ...fast }).generate(req(1))],
  ];
  for (const [name, re, run] of cases) {
    const e = (await run().catch((x) => x)) as Error;
    expect([name, e]).toEqual([name, expect.any(GeneratorError)]);
    expect(e.message).toMatch(re);
    expect(e.message).not.toContain('\n');
  }
  const ui = path.join(dir, 'ui.json');
  fs.writeFileSync(ui, JSON.stringify({ nodes: [], links: [] }));
  expect(() => new ComfyUIGenerator('http://127.0.0.1:1', { workflow: ui })).toThrow(/not an API-format workflow/);
  expect(() => new ComfyUIGenerator('http://127.0.0.1:1', {})).toThrow(UserError);
  expect(() => new ComfyUIGenerator('ftp://x', { workflow })).toThrow(/expected an http:\/\/ or https:\/\/ URL/);
});

test('the builder over comfyui: best-of-N by the seed-painted red channel', async () => {
  const s = await fake('ok');
  const prompts = path.join(dir, 'p.jsonl');
  fs.writeFileSync(prompts, '{"id":"a","prompt":"a cat"}\n{"id":"b","prompt":"a dog"}\n');
  const out = path.join(dir, 'out');
  const sum = await buildAll({ prompts, generator: `comfyui:${s.url}`, generatorOptions: { workflow }, n: 2, out, progress: false, scorer: new ColourScorer(), formats: ['imagefolder'] });
  expect(sum).toMatchObject({ processed: 2, candidates: 4, accepted: 2 });
  const rows = fs.readFileSync(path.join(out, 'imagefolder', 'train', 'metadata.jsonl'), 'utf8').trim().split('\n').map((l) => JSON.parse(l));
  expect(rows.map((r) => r.text)).toEqual(['a cat', 'a dog']);
  for (const r of rows) expect(r.generator).toMatchObject({ generator: 'comfyui' });
  expect((await verifyOutput(out)).problems).toEqual([]);
});
