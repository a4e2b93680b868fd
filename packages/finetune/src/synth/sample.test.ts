import { Rng } from '@richhf/reward/data';
import { SynthModel } from './checkpoint';
import { defaultConfig, initParams } from './model';
import { decodeScenes, maskSchedule } from './sample';
import { MASK_ID, POSITION_RANGES, PROMPT_LEN, SCENE_LEN } from './tokens';
import { worldSequences } from './data';

const TINY = defaultConfig({ hidden_size: 8, num_layers: 1, num_heads: 2, intermediate_size: 16 });
let model: SynthModel;
beforeAll(async () => {
  // Weights far from their small initial values, so the prompt (and guidance) changes the logits.
  const params = initParams(TINY, 3);
  const rng = new Rng('jitter');
  for (const p of params.values()) for (let i = 0; i < p.data.length; i++) p.data[i] += rng.uniform(-0.5, 0.5);
  model = await SynthModel.create(TINY, params, 1);
});
afterAll(() => model.dispose());
const data = worldSequences(0, 4);
const prompt = (i: number) => data.data.subarray(i * 58, i * 58 + PROMPT_LEN);

describe('MaskGIT decoding', () => {
  test('the cosine schedule masks everything at the start and nothing at the end, decreasing', () => {
    expect(maskSchedule(0)).toBe(1);
    expect(maskSchedule(1)).toBeCloseTo(0, 12);
    for (let r = 0.1; r <= 1; r += 0.1) expect(maskSchedule(r)).toBeLessThan(maskSchedule(r - 0.1));
  });

  test('every scene token is decoded into its field; the same seed gives the same scene, batched or alone; guidance changes it', async () => {
    const items = [0, 1, 2, 3].map((i) => ({ prompt: prompt(i), seed: 100 + i }));
    const out = await decodeScenes(model, items, { steps: 8 });
    for (const t of out) {
      expect(t).toHaveLength(SCENE_LEN);
      t.forEach((v, p) => {
        const r = POSITION_RANGES[PROMPT_LEN + p];
        expect(v).not.toBe(MASK_ID);
        expect(v >= r.offset && v < r.offset + r.size).toBe(true);
      });
    }
    const alone = await decodeScenes(model, [items[2]], { steps: 8 });
    expect(Array.from(alone[0])).toEqual(Array.from(out[2]));
    const other = await decodeScenes(model, [{ ...items[2], seed: 999 }], { steps: 8 });
    expect(Array.from(other[0])).not.toEqual(Array.from(out[2]));
    const guided = await decodeScenes(model, [items[2]], { steps: 8, guidance: 3 });
    expect(Array.from(guided[0])).not.toEqual(Array.from(out[2]));
  });

  test('inpainting re-decodes only the chosen positions', async () => {
    const start = data.data.slice(PROMPT_LEN, 58);
    const regenerate = Array.from({ length: SCENE_LEN }, (_, p) => p >= 34); // the artifact slots
    const outs = await decodeScenes(model, [1, 2, 3].map((seed) => ({ prompt: prompt(0), seed, start, regenerate })), { steps: 4 });
    for (const t of outs) for (let p = 0; p < 34; p++) expect(t[p]).toBe(start[p]);
    expect(outs.some((t) => t.slice(34).some((v, j) => v !== start[34 + j]))).toBe(true);
  });
});
