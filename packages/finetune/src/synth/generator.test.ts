import * as fs from 'fs';
import * as os from 'os';
import * as path from 'path';
import sharp from 'sharp';
import { Rng } from '@richhf/reward/data';
import { buildAll } from '../builder';
import { openGenerator } from '../generators/open';
import '../index';
import { ColourScorer } from '../testing/fake-scorer';
import { loadCheckpoint, saveCheckpoint } from './checkpoint';
import { keptSequences } from './data';
import type { SynthGenerator } from './generator';
import { defaultConfig, initParams } from './model';
import { renderTokens, synthPrompt, tokensFromText } from './scenes';
import { PROMPT_LEN, promptTokens, SEQ_LEN } from './tokens';

const TINY = defaultConfig({ hidden_size: 16, num_layers: 1, num_heads: 2, intermediate_size: 32 });
let dir: string;
let ckpt: string;
beforeAll(() => {
  dir = fs.mkdtempSync(path.join(os.tmpdir(), 'synth-gen-'));
  ckpt = path.join(dir, 'ckpt');
  const params = initParams(TINY, 6);
  const rng = new Rng('jitter');
  for (const p of params.values()) for (let i = 0; i < p.data.length; i++) p.data[i] += rng.uniform(-0.3, 0.3);
  saveCheckpoint(ckpt, TINY, params);
});
afterAll(() => fs.rmSync(dir, { recursive: true, force: true }));

const PROMPTS = [
  { id: 'a', prompt: 'two red balls on the left at night' },
  { id: 'b', prompt: 'a photo of a blue cat, three green trees at the top' },
  { id: 'c', prompt: 'one yellow fish in the center by the ocean, digital art' },
];

test('`--generator synth:DIR`: N rendered scenes per prompt whose PNG is what their tokens render', async () => {
  const g = (await openGenerator(`synth:${ckpt}`, { params: { steps: 4 } })) as SynthGenerator;
  try {
    expect(g.describe).toMatchObject({ kind: 'synth', checkpoint: ckpt, steps: 4, weights: loadCheckpoint(ckpt).digest });
    const cands = await g.generate({ promptId: 'a', promptKey: 'a', prompt: PROMPTS[0].prompt, n: 3, seeds: [5, 6, 7] });
    expect(cands.map((c) => [c.index, c.seed])).toEqual([[0, 5], [1, 6], [2, 7]]);
    for (const c of cands) {
      const tokens = tokensFromText(c.settings.tokens, 'test');
      const again = renderTokens(tokens, synthPrompt(PROMPTS[0].prompt));
      const raw = await sharp(Buffer.from(c.bytes)).raw().toBuffer();
      expect(raw.equals(Buffer.from(again.rgb))).toBe(true);
      expect(c.pixels!.data[0]).toBeCloseTo(again.rgb[0] / 255, 6);
    }
    // The same seeds in another batch (two requests at once are decoded together) give the same scenes.
    const [x, y] = await Promise.all([
      g.generate({ promptId: 'b', promptKey: 'b', prompt: PROMPTS[1].prompt, n: 2, seeds: [1, 2] }),
      g.generate({ promptId: 'a', promptKey: 'a', prompt: PROMPTS[0].prompt, n: 3, seeds: [5, 6, 7] }),
    ]);
    expect(y.map((c) => c.settings.tokens)).toEqual(cands.map((c) => c.settings.tokens));
    expect(x).toHaveLength(2);
    await expect(g.generate({ promptId: 'z', promptKey: 'z', prompt: 'a red cat on a sofa', n: 1, seeds: [1] })).rejects.toThrow(
      /^prompt "z": "a red cat on a sofa" is not a caption of the synthetic world's grammar/,
    );
  } finally {
    await g.close();
  }
  await expect(openGenerator('synth', { params: { steps: 'many' } })).rejects.toThrow(/--param steps=many: expected a number/);
  await expect(openGenerator(`synth:${dir}`)).rejects.toThrow(/not a scene-generator checkpoint \(no config\.json\)/);
});

test('the builder with --generator synth writes the tokens beside each kept image; they read back as training sequences', async () => {
  const out = path.join(dir, 'set');
  const scorer = new ColourScorer();
  await buildAll({ prompts: PROMPTS.map((p, line) => ({ ...p, key: p.id, line })), generator: `synth:${ckpt}`, n: 4, formats: ['imagefolder', 'webdataset'], out, scorer, keywords: false, progress: false, generatorOptions: { params: { steps: 4 } } });
  const seqs = await keptSequences([out]);
  expect(seqs.rows).toBe(3);
  const meta = fs.readFileSync(path.join(out, 'imagefolder', 'train', 'metadata.jsonl'), 'utf8').trim().split('\n').map((l) => JSON.parse(l));
  meta.forEach((m, i) => {
    const row = seqs.data.subarray(i * SEQ_LEN, (i + 1) * SEQ_LEN);
    expect(Array.from(row.subarray(0, PROMPT_LEN))).toEqual(promptTokens(synthPrompt(m.text)));
    expect(Array.from(row.subarray(PROMPT_LEN)).join(' ')).toBe(m.generator.tokens);
  });
  // The webdataset alone gives the same rows.
  fs.rmSync(path.join(out, 'imagefolder'), { recursive: true });
  const fromTars = await keptSequences([out]);
  expect(new Set(Array.from({ length: 3 }, (_, i) => fromTars.data.subarray(i * SEQ_LEN, (i + 1) * SEQ_LEN).join(',')))).toEqual(
    new Set(Array.from({ length: 3 }, (_, i) => seqs.data.subarray(i * SEQ_LEN, (i + 1) * SEQ_LEN).join(','))),
  );
  await expect(keptSequences([dir])).rejects.toThrow(/no imagefolder\/train\/metadata\.jsonl or webdataset\/ shards/);
});
