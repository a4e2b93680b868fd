import { judgeAlignment } from './judge';
import { sampleScene } from './scene';

const key = (es: ReadonlyArray<{ type: string; group?: number }>) => es.map((e) => `${e.type}:${e.group ?? ''}`).sort().join(',');

describe('judgeAlignment', () => {
  test("agrees with the world's own plan on ≥ 97 % of scenes (the rest: a moved group that still lies in its region)", () => {
    let agree = 0;
    const n = 400;
    for (let i = 0; i < n; i++) {
      const { prompt, depiction, scene } = sampleScene({ seed: 5, size: 64 }, i);
      const judged = judgeAlignment(prompt, scene);
      if (key(judged) === key(depiction.edits)) agree++;
      else expect(depiction.edits.filter((e) => !judged.some((j) => j.type === e.type && j.group === e.group)).map((e) => e.type)).toEqual(['position']);
    }
    expect(agree / n).toBeGreaterThanOrEqual(0.97);
  });

  test('weights and words follow the world: a missing only group, a wrong background', () => {
    let i = 0;
    let s = sampleScene({ seed: 5 }, i);
    while (s.prompt.groups.length !== 1 || s.prompt.backgroundWord === undefined) s = sampleScene({ seed: 5 }, ++i);
    const { prompt, scene } = s;
    const other = prompt.background === 'beach' ? 'snow' : 'beach';
    const edits = judgeAlignment(prompt, { ...scene, objects: [], background: other });
    expect(edits.map((e) => [e.type, e.weight])).toEqual([['missing', 0.7], ['background', 0.2]]);
    expect(edits[1].words).toEqual([prompt.backgroundWord]);
    expect(edits[0].words).toEqual(expect.arrayContaining([prompt.groups[0].words.colour, prompt.groups[0].words.noun]));
  });

  test('an extra object is a count misalignment pointing at it; objects of an unknown group join the last group', () => {
    let i = 0;
    let s = sampleScene({ seed: 6 }, i);
    while (s.depiction.edits.length > 0 || s.prompt.groups.length !== 1) s = sampleScene({ seed: 6 }, ++i);
    const o = s.scene.objects[0];
    const edits = judgeAlignment(s.prompt, { ...s.scene, objects: [...s.scene.objects, { ...o, group: 3 }] });
    expect(edits.map((e) => [e.type, e.regionObjects, e.depicted])).toEqual([['count', [s.scene.objects.length], String(s.scene.objects.length + 1)]]);
  });
});
