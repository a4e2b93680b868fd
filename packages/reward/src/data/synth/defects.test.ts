import { applyPixelArtifacts, drawDuplicates, planArtifacts, planMisalignment, type Artifact } from './defects';
import { samplePrompt } from './grammar';
import { Canvas } from './canvas';
import { objectBox, type PlacedObject } from './objects';
import { drawBackground } from './render';
import { Rng } from './rng';

describe('planMisalignment', () => {
  const cases = [...Array(300).keys()].map((i) => {
    const prompt = samplePrompt(new Rng(11, i, 'prompt'));
    return { prompt, dep: planMisalignment(new Rng(11, i, 'misalign'), prompt) };
  });

  test('each edit names the words of its kind and changes what is depicted', () => {
    for (const { prompt, dep } of cases) {
      for (const e of dep.edits) {
        const roles = e.words.map((w) => prompt.words[w].role);
        const g = e.group === undefined ? undefined : prompt.groups[e.group];
        const d = e.group === undefined ? undefined : dep.groups[e.group];
        switch (e.type) {
          case 'colour':
            expect(roles).toEqual(['colour']);
            expect(e.regionObjects.length).toBeGreaterThan(0);
            for (const i of e.regionObjects) expect(d!.colours[i]).not.toBe(g!.colour);
            break;
          case 'count':
            expect(roles).toEqual(['count']);
            expect(d!.colours.length).not.toBe(g!.count);
            break;
          case 'object':
            expect(roles).toEqual(['object']);
            expect(d!.kind).not.toBe(g!.kind);
            break;
          case 'missing':
            expect(roles).toContain('object');
            expect(d!.colours).toEqual([]);
            break;
          case 'position':
            expect(roles).toEqual(['position']);
            expect(d!.position).not.toBe(g!.position);
            break;
          case 'background':
            expect(roles).toEqual(['background']);
            expect(dep.background).not.toBe(prompt.background);
            break;
        }
        for (const i of e.regionObjects) expect(i).toBeLessThan(d!.colours.length);
      }
    }
  });

  test('unedited prompts are depicted faithfully', () => {
    for (const { prompt, dep } of cases.filter((c) => c.dep.edits.length === 0)) {
      expect(dep.background).toBe(prompt.background);
      prompt.groups.forEach((g, i) => {
        expect(dep.groups[i]).toEqual({ kind: g.kind, colours: new Array(g.count).fill(g.colour), position: g.position });
      });
    }
  });

  test('about 30 % of images have no misalignment, and some have several', () => {
    const none = cases.filter((c) => c.dep.edits.length === 0).length / cases.length;
    expect(none).toBeGreaterThan(0.2);
    expect(none).toBeLessThan(0.4);
    expect(cases.some((c) => c.dep.edits.length >= 2)).toBe(true);
    const types = new Set(cases.flatMap((c) => c.dep.edits.map((e) => e.type)));
    expect(types.size).toBe(6);
  });
});

describe('artifacts', () => {
  const W = 64;
  function scene(i: number, draw = true): { objects: PlacedObject[]; base: Canvas; artifacts: Artifact[] } {
    const rng = new Rng(12, i);
    const objects: PlacedObject[] = [];
    for (let k = 0; k < 1 + (i % 3); k++) {
      const o = { group: 0, kind: (['cat', 'car', 'person', 'ball', 'house'] as const)[(i + k) % 5], colour: 'red' as const, rgb: [0.8, 0.1, 0.1], cx: 14 + 18 * k, cy: 20 + 7 * k, s: 8, flip: false };
      objects.push({ ...o, box: objectBox(o, W, W) });
    }
    const base = new Canvas(W, W);
    if (draw) drawBackground(base, 'field', rng);
    return { objects, base, artifacts: planArtifacts(rng, objects, W, W, draw ? base : undefined) };
  }

  test('every artifact changes pixels, and only inside its box', () => {
    let seen = 0;
    const types = new Set<string>();
    for (let i = 0; i < 60; i++) {
      const { base, artifacts } = scene(i);
      for (const a of artifacts) {
        const cv = base.clone();
        drawDuplicates(cv, [a]);
        applyPixelArtifacts(cv, [a]);
        let changedIn = 0;
        let changedOut = 0;
        for (let y = 0; y < W; y++) {
          for (let x = 0; x < W; x++) {
            const o = (y * W + x) * 3;
            const diff = Math.abs(cv.data[o] - base.data[o]) + Math.abs(cv.data[o + 1] - base.data[o + 1]) + Math.abs(cv.data[o + 2] - base.data[o + 2]);
            const inside = x >= a.box[0] && x < a.box[2] && y >= a.box[1] && y < a.box[3];
            if (diff > 1e-6) inside ? changedIn++ : changedOut++;
          }
        }
        expect(changedOut).toBe(0);
        // Slices/smears/warps of a flat patch can be invisible on the plain background canvas used here;
        // duplicates and blotches always paint.
        if (a.type === 'duplicate' || a.type === 'blotch') expect(changedIn).toBeGreaterThan(0);
        seen++;
        types.add(a.type);
        expect(a.severity).toBeGreaterThan(0.05);
        expect(a.severity).toBeLessThan(0.4);
      }
    }
    expect(seen).toBeGreaterThan(45);
    expect(types).toEqual(new Set(['duplicate', 'slice', 'smear', 'warp', 'blotch']));
  });

  test('about 30 % of images have no artifact; sizes vary', () => {
    const plans = [...Array(300).keys()].map((i) => scene(i, false).artifacts);
    const none = plans.filter((p) => p.length === 0).length / plans.length;
    expect(none).toBeGreaterThan(0.2);
    expect(none).toBeLessThan(0.4);
    const areas = plans.flat().map((a) => (a.box[2] - a.box[0]) * (a.box[3] - a.box[1]));
    expect(Math.max(...areas) / Math.min(...areas)).toBeGreaterThan(8);
  });
});
