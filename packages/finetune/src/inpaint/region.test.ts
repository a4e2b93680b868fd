import sharp from 'sharp';
import { Rng, sampleScene } from '@richhf/reward/data';
import { SynthModel } from '../synth/checkpoint';
import { SynthGenerator } from '../synth/generator';
import { defaultConfig, initParams } from '../synth/model';
import { renderTokens } from '../synth/scenes';
import { artifactSlotPositions, encodeScene, SCENE_LEN } from '../synth/tokens';
import { startFakeA1111 } from '../testing/fake-a1111';
import { boxMap, MapScorer } from '../testing/map-scorer';
import { A1111Generator } from '../generators/a1111';
import { inpaintImage, inpaintScene, sceneFootprint } from './region';

const TINY = defaultConfig({ hidden_size: 16, num_layers: 1, num_heads: 2, intermediate_size: 32 });
let gen: SynthGenerator;
beforeAll(async () => {
  const params = initParams(TINY, 4);
  const rng = new Rng('jitter');
  for (const p of params.values()) for (let i = 0; i < p.data.length; i++) p.data[i] += rng.uniform(-0.3, 0.3);
  gen = SynthGenerator.fromModel(await SynthModel.create(TINY, params, 1));
});
afterAll(() => gen.close());

/** A world scene with an artifact that does not overlap any object, as a rendered token sample. */
function sampleWithLoneArtifact() {
  for (let i = 0; ; i++) {
    const { prompt, scene } = sampleScene({ seed: 31 }, i);
    const t = encodeScene(scene);
    if (!t || scene.artifacts.length === 0) continue;
    const s = renderTokens(Int32Array.from(t), prompt);
    const a = s.scene.artifacts[0];
    const hits = s.scene.objects.filter((o) => !(o.box[2] <= a.box[0] || a.box[2] <= o.box[0] || o.box[3] <= a.box[1] || a.box[3] <= o.box[1]));
    if (hits.length === 0 && s.artifactSlots[0] === 0) return s;
  }
}

describe('scene inpainting', () => {
  test('the footprint is the slots whose rendered box meets the mask: here one artifact slot', () => {
    const s = sampleWithLoneArtifact();
    const a = s.scene.artifacts[0].box;
    const map = boxMap(128, 128, [a[0], a[1], a[0] + 1, a[1] + 1]);
    const { regenerate, boxes } = sceneFootprint(s, { width: 128, height: 128, data: Uint8Array.from(map.data) });
    expect(boxes).toEqual([a]);
    const slot = artifactSlotPositions(0);
    expect(regenerate.map((r, p) => (r ? p : -1)).filter((p) => p >= 0)).toEqual(slot);
    const everything = sceneFootprint(s, { width: 128, height: 128, data: new Uint8Array(128 * 128).fill(1) });
    expect(everything.regenerate.filter(Boolean).length).toBe(5 * (s.scene.objects.length + s.scene.artifacts.length));
    expect(everything.regenerate.slice(0, 4).some(Boolean)).toBe(false);
  });

  test('K re-decodings of the masked tokens only; the best replaces the image only if its plausibility is higher', async () => {
    const s = sampleWithLoneArtifact();
    const a = s.scene.artifacts[0].box;
    const scorer = new MapScorer(boxMap(64, 64, [a[0] >> 1, a[1] >> 1, (a[2] + 1) >> 1, (a[3] + 1) >> 1]));
    const r = await inpaintScene(gen, s, scorer, [1, 2, 3, 4, 5], { k: 5, threshold: 0.5, dilate: 0 });
    expect(r.candidates).toHaveLength(5);
    const keep = Array.from({ length: SCENE_LEN }, (_, p) => !artifactSlotPositions(0).includes(p));
    for (const c of r.candidates) keep.forEach((k, p) => k && expect(c.item.tokens[p]).toBe(s.tokens[p]));
    const best = Math.max(...r.candidates.map((c) => c.plausibility));
    expect(r.accepted).toBe(best > r.before.plausibility);
    expect(r.after.plausibility).toBe(Math.max(best, r.before.plausibility));
    // Nothing flagged: nothing re-generated.
    const none = await inpaintScene(gen, s, new MapScorer(boxMap(64, 64, [0, 0, 0, 0])), [1, 2], { k: 2 });
    expect([none.candidates.length, none.accepted, none.after]).toEqual([0, false, none.before]);
  });
});

describe('image inpainting through AUTOMATIC1111', () => {
  test('img2img gets the image and the grid-snapped mask (white = repaint); the reddest repaint wins', async () => {
    const s = await startFakeA1111('ok');
    try {
      const g = new A1111Generator(s.url);
      const png = new Uint8Array(await sharp({ create: { width: 64, height: 48, channels: 3, background: { r: 100, g: 0, b: 0 } } }).png().toBuffer());
      // Flag one pixel at (20, 20) of the 64×48 image: the 16-px cell [16, 32)² is repainted.
      const scorer = new MapScorer(boxMap(64, 48, [20, 20, 21, 21]));
      const r = await inpaintImage(g, { png, source: 'in.png' }, { promptId: 'p', promptKey: 'p', prompt: 'a cat' }, scorer, [150, 90, 7], { k: 3, threshold: 0.5, dilate: 0 });
      const body = JSON.parse(s.requests[0].body);
      expect(s.requests[0].path).toBe('/sdapi/v1/img2img');
      expect(body).toMatchObject({ prompt: 'a cat', seed: 150, batch_size: 3 });
      const mask = await sharp(Buffer.from(body.mask, 'base64')).raw().toBuffer({ resolveWithObject: true });
      const at = (x: number, y: number) => mask.data[(y * mask.info.width + x) * mask.info.channels];
      expect([at(16, 16), at(31, 31), at(15, 16), at(32, 20), at(40, 40)]).toEqual([255, 255, 0, 0, 0]);
      expect(Buffer.from(body.init_images[0], 'base64').equals(Buffer.from(png))).toBe(true);
      // The fake paints seed % 256 red: seed 150 beats the original's 100.
      expect(r.candidates.map((c) => c.seed)).toEqual([150, 151, 152]);
      expect(r.accepted).toBe(true);
      expect(r.after.plausibility).toBeCloseTo(152 / 255, 5);
    } finally {
      await s.close();
    }
  });
});
