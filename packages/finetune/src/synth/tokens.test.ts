import { parsePrompt, renderScene, sampleScene } from '@richhf/reward/data';
import { renderTokens } from './scenes';
import { truthRates } from './rates';
import { decodeScene, encodeScene, MASK_ID, NULL_ID, POSITION_RANGES, PROMPT_LEN, promptTokens, SCENE_LEN, SEQ_LEN, VOCAB } from './tokens';

describe('scene tokens', () => {
  test('fields partition the vocabulary after [MASK] and [NULL]; 9 prompt + 49 scene positions', () => {
    expect([PROMPT_LEN, SCENE_LEN, SEQ_LEN]).toEqual([9, 49, 58]);
    const covered = new Array<number>(VOCAB).fill(0);
    for (const r of new Set(POSITION_RANGES)) for (let k = 0; k < r.size; k++) covered[r.offset + k]++;
    expect(covered[MASK_ID]).toBe(0);
    expect(covered[NULL_ID]).toBe(0);
    expect(covered.slice(2).every((c) => c === 1)).toBe(true);
  });

  test('a world scene survives the round trip: same objects (centres within a grid cell), same artifact types, truth rates alike', () => {
    const planned = [];
    const via = [];
    for (let i = 0; i < 100; i++) {
      const { prompt, depiction, scene } = sampleScene({ seed: 21 }, i);
      const tokens = encodeScene(scene);
      if (!tokens) continue;
      expect(tokens).toHaveLength(SCENE_LEN);
      tokens.forEach((t, p) => expect(t - POSITION_RANGES[PROMPT_LEN + p].offset).toBeLessThan(POSITION_RANGES[PROMPT_LEN + p].size));
      const back = decodeScene(tokens, prompt.groups.length).scene;
      expect(back.objects.map((o) => [o.group, o.kind, o.colour, o.flip])).toEqual(scene.objects.map((o) => [o.group, o.kind, o.colour, o.flip]));
      back.objects.forEach((o, k) => expect(Math.max(Math.abs(o.cx - scene.objects[k].cx), Math.abs(o.cy - scene.objects[k].cy))).toBeLessThanOrEqual(128 / 24 / 2 + 1e-9));
      expect(back.artifacts.map((a) => a.type)).toEqual(scene.artifacts.map((a) => a.type));
      expect(back.background).toBe(scene.background);
      planned.push(renderScene(scene, prompt, { edits: depiction.edits }).truth);
      via.push(renderTokens(Int32Array.from(tokens), prompt).truth);
    }
    const a = truthRates(planned);
    const b = truthRates(via);
    expect(Math.abs(a.defect_rate - b.defect_rate)).toBeLessThan(0.02);
    expect(Math.abs(a.misalignment_rate - b.misalignment_rate)).toBeLessThan(0.04);
    expect(Math.abs(a.plausibility - b.plausibility)).toBeLessThan(0.01);
    expect(Math.abs(a.alignment - b.alignment)).toBeLessThan(0.02);
  });

  test('decoding is a pure function of the tokens and never fails: random ids, [MASK]s and foreign ids read as empty slots', () => {
    const { scene } = sampleScene({ seed: 3 }, 1);
    const tokens = encodeScene(scene)!;
    const a = decodeScene(tokens, 1);
    expect(JSON.stringify(decodeScene(tokens, 1))).toBe(JSON.stringify(a));
    let x = 12345;
    for (let t = 0; t < 200; t++) {
      const noisy = tokens.map((v, p) => {
        x = (x * 1103515245 + 12345) >>> 0;
        const r = POSITION_RANGES[PROMPT_LEN + p];
        return x % 7 === 0 ? MASK_ID : x % 11 === 0 ? (x >>> 3) % VOCAB : r.offset + ((x >>> 5) % r.size);
      });
      const d = decodeScene(noisy, 2);
      expect(d.objectSlots).toHaveLength(6);
      for (const o of d.scene.objects) expect(o.group).toBeLessThan(2);
    }
    expect(() => decodeScene(tokens.slice(1), 1)).toThrow(/expected 49 tokens/);
  });

  test('prompt tokens say what the caption asks and nothing else (style words do not change them)', () => {
    const a = parsePrompt('a photo of two red balls on the left at night')!;
    const b = parsePrompt('two red balls on the left at night, digital art')!;
    const c = parsePrompt('two red balls on the left')!;
    expect(promptTokens(a)).toEqual(promptTokens(b));
    expect(promptTokens(a)).not.toEqual(promptTokens(c));
    expect(promptTokens(a).every((t, p) => t >= POSITION_RANGES[p].offset && t < POSITION_RANGES[p].offset + POSITION_RANGES[p].size)).toBe(true);
  });
});
