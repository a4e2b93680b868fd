import { Rng } from './rng';
import { renderScene, sampleScene } from './scene';
import { generateExample } from './world';

const OPTS = { seed: 11, size: 64 };

describe('sampleScene + renderScene', () => {
  test('render the world example exactly: same pixels, same truth (the plan gives the misalignments)', () => {
    for (const i of [0, 1, 2, 5, 13, 29]) {
      const ex = generateExample(OPTS, i);
      const { prompt, depiction, scene } = sampleScene(OPTS, i);
      const r = renderScene(scene, prompt, { edits: depiction.edits });
      expect(Buffer.from(r.rgb).equals(Buffer.from(ex.rgb))).toBe(true);
      const { uid, split, ...truth } = ex.truth;
      expect([uid, split]).toEqual([ex.uid, ex.split]);
      expect(JSON.stringify(r.truth)).toBe(JSON.stringify(truth));
    }
  });

  test('a scene is data: a JSON round trip renders the same image', () => {
    const { prompt, scene } = sampleScene(OPTS, 3);
    const again = JSON.parse(JSON.stringify(scene));
    expect(Buffer.from(renderScene(again, prompt).rgb).equals(Buffer.from(renderScene(scene, prompt).rgb))).toBe(true);
  });

  test('an edited scene renders its own truth: no artifacts → plausibility 1; objects recoloured → a colour misalignment', () => {
    let i = 0;
    let s = sampleScene(OPTS, i);
    while (s.scene.artifacts.length === 0 || s.depiction.edits.length > 0) s = sampleScene(OPTS, ++i);
    const clean = renderScene({ ...s.scene, artifacts: [] }, s.prompt);
    expect(clean.truth.artifacts).toEqual([]);
    expect(clean.truth.latent.plausibility).toBe(1);
    expect(clean.truth.misalignments).toEqual([]);
    expect(clean.truth.latent.alignment).toBe(1);
    const spec = s.prompt.groups[0];
    const other = spec.colour === 'blue' ? 'red' : 'blue';
    const recoloured = renderScene({ ...s.scene, objects: s.scene.objects.map((o) => (o.group === 0 ? { ...o, colour: other } : o)) }, s.prompt);
    expect(recoloured.truth.misalignments.map((m) => [m.type, m.group, m.words])).toEqual([['colour', 0, [spec.words.colour]]]);
    expect(recoloured.truth.labels[spec.words.colour]).toBe(0);
  });

  test('the texture key alone fixes the background: another key, other pixels', () => {
    const { prompt, scene } = sampleScene(OPTS, 4);
    const a = renderScene(scene, prompt).rgb;
    const b = renderScene({ ...scene, texture: ['other', new Rng('k').next32()] }, prompt).rgb;
    expect(Buffer.from(a).equals(Buffer.from(b))).toBe(false);
  });
});
