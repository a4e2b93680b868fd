import { artifactFromSpec, artifactSpec } from './artifact-spec';
import { Rng } from './rng';
import { sampleScene } from './scene';

describe('artifact specs', () => {
  test("a world artifact's spec makes an artifact of the same type, place and (within 0.035) severity", () => {
    const errs: number[] = [];
    for (let i = 0; i < 300; i++) {
      const { scene } = sampleScene({ seed: 9 }, i);
      scene.artifacts.forEach((a, k) => {
        const spec = artifactSpec(a, scene.objects, scene.width);
        const b = artifactFromSpec(spec, scene.objects, scene.width, scene.height, new Rng('spec', i, k))!;
        expect(b).toBeDefined();
        expect(b.type).toBe(a.type);
        expect(b.object).toBe(a.object);
        const c = (x: number[]) => [(x[0] + x[2]) / 2, (x[1] + x[3]) / 2];
        const [ax, ay] = c(a.box);
        const [bx, by] = c(b.box);
        expect(Math.hypot(ax - bx, ay - by)).toBeLessThan(0.12 * scene.width);
        errs.push(Math.abs(a.severity - b.severity));
      });
    }
    expect(Math.max(...errs)).toBeLessThan(0.035);
    expect(errs.reduce((s, e) => s + e, 0) / errs.length).toBeLessThan(0.005);
  });

  test('the same spec and stream make the same artifact; a duplicate with nothing to copy becomes a blotch; off-image is dropped', () => {
    const { scene } = sampleScene({ seed: 9 }, 1);
    const spec = { type: 'smear' as const, cx: 40, cy: 50, size: 10, intensity: 0.8 };
    expect(artifactFromSpec(spec, scene.objects, 128, 128, new Rng('a'))).toEqual(artifactFromSpec(spec, scene.objects, 128, 128, new Rng('a')));
    expect(artifactFromSpec({ ...spec, type: 'duplicate' }, [], 128, 128, new Rng('a'))!.type).toBe('blotch');
    expect(artifactFromSpec({ ...spec, cx: -40, cy: -40 }, scene.objects, 128, 128, new Rng('a'))).toBeUndefined();
  });
});
