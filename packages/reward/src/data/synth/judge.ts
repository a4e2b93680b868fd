/**
 * Misalignment judged from a finished scene: what its objects and background get wrong against the prompt.
 * The world records the edits it planned (defects.ts); a scene from any other sampler has no plan, so its
 * truth comes from comparing, per prompt group, the objects that depict it with what the prompt asks —
 * the same edit types, words, regions and weights as the plan's, so both truths read alike.
 */
import type { MisalignmentEdit } from './defects';
import { POSITION_REGION, POSITIONS, type Background, type Position, type PromptSpec } from './grammar';
import type { PlacedObject } from './objects';

/**
 * A group is where the prompt puts it when every object centre lies in the position's region (the range
 * the world's layout draws centres from) widened by this fraction of the image side, so a centre rounded to
 * a coarse grid still counts as inside.
 */
export const POSITION_TOLERANCE = 0.03;

function inRegion(o: PlacedObject, p: Position | 'any', W: number, H: number, tol: number): boolean {
  const [x0, x1, y0, y1] = POSITION_REGION[p];
  const x = o.cx / W;
  const y = o.cy / H;
  return x >= x0 - tol && x <= x1 + tol && y >= y0 - tol && y <= y1 + tol;
}

/** The edits that describe how `scene` departs from `prompt` (empty when it shows what the prompt says). */
export function judgeAlignment(prompt: PromptSpec, scene: { objects: PlacedObject[]; background: Background; width: number; height: number }): MisalignmentEdit[] {
  const edits: MisalignmentEdit[] = [];
  const nGroups = prompt.groups.length;
  prompt.groups.forEach((spec, g) => {
    // Objects of a group the prompt does not have count as extra objects of its last group.
    const objs = scene.objects.filter((o) => Math.min(o.group, nGroups - 1) === g);
    const all = [...objs.keys()];
    if (objs.length === 0) {
      const words = [spec.words.colour, spec.words.noun];
      if (spec.count > 1 || /^(one|two|three|four)$/.test(prompt.words[spec.words.count].text)) words.unshift(spec.words.count);
      edits.push({ type: 'missing', group: g, words, regionObjects: [], weight: nGroups === 1 ? 0.7 : 0.45 });
      return;
    }
    const wrongKind = objs.filter((o) => o.kind !== spec.kind);
    if (wrongKind.length > 0) {
      edits.push({ type: 'object', group: g, words: [spec.words.noun], regionObjects: all, weight: 0.35, depicted: wrongKind[0].kind });
    }
    if (objs.length !== spec.count) {
      const extra = all.filter((i) => i >= spec.count);
      edits.push({ type: 'count', group: g, words: [spec.words.count], regionObjects: extra, weight: 0.25, depicted: String(objs.length) });
    }
    const recoloured = all.filter((i) => objs[i].colour !== spec.colour);
    if (recoloured.length > 0) {
      edits.push({
        type: 'colour', group: g, words: [spec.words.colour], regionObjects: recoloured,
        weight: 0.18 + (0.14 * recoloured.length) / objs.length, depicted: objs[recoloured[0]].colour,
      });
    }
    if (spec.position !== undefined && spec.words.position !== undefined) {
      const { width: W, height: H } = scene;
      if (objs.some((o) => !inRegion(o, spec.position!, W, H, POSITION_TOLERANCE))) {
        const c = { cx: objs.reduce((s, o) => s + o.cx, 0) / objs.length, cy: objs.reduce((s, o) => s + o.cy, 0) / objs.length } as PlacedObject;
        const depicted = POSITIONS.find((p) => p !== spec.position && inRegion(c, p, W, H, 0)) ?? 'elsewhere';
        edits.push({ type: 'position', group: g, words: [spec.words.position], regionObjects: all, weight: 0.2, depicted });
      }
    }
  });
  if (prompt.backgroundWord !== undefined && scene.background !== prompt.background) {
    edits.push({ type: 'background', words: [prompt.backgroundWord], regionObjects: [], weight: 0.2, depicted: scene.background });
  }
  return edits;
}
