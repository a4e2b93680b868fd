/**
 * Ground-truth defects of the synthetic world.
 *
 * Misalignment: the scene depicts something other than the prompt says — a wrong colour, a wrong count,
 * a missing group, a wrong object, a wrong position or a wrong background — and each edit names the
 * prompt words it makes wrong and (after layout) the objects whose region shows the mismatch.
 *
 * Implausibility: artifacts painted into the image at known places — a duplicated part, a broken
 * (sliced and shifted) band, a smear, a swirl warp, a noise blotch — each with its pixel box and a
 * severity that grows with its size and intensity.
 */
import { COLOURS, COLOUR_NAMES, KINDS, POSITIONS, BACKGROUNDS, type Background, type ColourName, type Kind, type Position, type PromptSpec } from './grammar';
import { clipBox, fillPrim, movePrim, primBounds, type Box, type Canvas, type Prim } from './canvas';
import { CATALOGUE, objectParts, type PlacedObject } from './objects';
import { Rng } from './rng';

// ---------------------------------------------------------------------------------------------------
// Misalignment

export type MisalignmentType = 'colour' | 'count' | 'object' | 'missing' | 'position' | 'background';

export interface MisalignmentEdit {
  type: MisalignmentType;
  group?: number;
  /** Prompt word indices the edit makes wrong. */
  words: number[];
  /** Indices (within the depicted group) of objects whose boxes form the misaligned region. */
  regionObjects: number[];
  /** How much the edit lowers the alignment latent. */
  weight: number;
  /** What the scene shows instead, for the truth file. */
  depicted?: string;
}

/** What the scene actually shows for one prompt group. */
export interface DepictedGroup {
  kind: Kind;
  /** One colour per depicted object (length = depicted count; 0 when the group is missing). */
  colours: ColourName[];
  position?: Position;
}

export interface Depiction {
  groups: DepictedGroup[];
  background: Background;
  edits: MisalignmentEdit[];
}

function rgbDist(a: ColourName, b: ColourName): number {
  const x = COLOURS[a];
  const y = COLOURS[b];
  return Math.hypot(x[0] - y[0], x[1] - y[1], x[2] - y[2]);
}

/** A colour clearly different from `c` (so the mismatch is visible, not a shade question). */
function otherColour(rng: Rng, c: ColourName): ColourName {
  return rng.pick(COLOUR_NAMES.filter((o) => o !== c && rgbDist(o, c) > 110));
}

/** Choose 0–3 edits (≈30 % of images have none) and derive what the scene depicts. */
export function planMisalignment(rng: Rng, prompt: PromptSpec): Depiction {
  const groups: DepictedGroup[] = prompt.groups.map((g) => ({
    kind: g.kind,
    colours: new Array<ColourName>(g.count).fill(g.colour),
    position: g.position,
  }));
  let background = prompt.background;
  const edits: MisalignmentEdit[] = [];
  const nEdits = rng.weighted([0.3, 0.4, 0.2, 0.1]);
  const used = new Set<string>();
  const missing = new Set<number>();

  for (let attempt = 0; edits.length < nEdits && attempt < 20; attempt++) {
    const type = rng.pick<MisalignmentType>(['colour', 'count', 'object', 'missing', 'position', 'background']);
    const g = rng.int(0, prompt.groups.length - 1);
    const spec = prompt.groups[g];
    const dg = groups[g];
    const key = type === 'background' ? type : `${type}:${g}`;
    if (used.has(key) || (type !== 'background' && missing.has(g))) continue;
    switch (type) {
      case 'colour': {
        const n = rng.chance(0.6) ? dg.colours.length : rng.int(1, dg.colours.length);
        const idx = rng.shuffle([...dg.colours.keys()]).slice(0, n).sort((a, b) => a - b);
        const c = otherColour(rng, spec.colour);
        for (const i of idx) dg.colours[i] = c;
        edits.push({ type, group: g, words: [spec.words.colour], regionObjects: idx, weight: 0.18 + (0.14 * n) / dg.colours.length, depicted: c });
        break;
      }
      case 'count': {
        if (used.has(`colour:${g}`)) continue; // keep recoloured indices meaningful
        const options = [spec.count - 1, spec.count + 1].filter((c) => c >= 1 && c <= 4);
        const c = rng.pick(options);
        const extra = c > spec.count ? [...Array(c - spec.count).keys()].map((k) => spec.count + k) : [];
        dg.colours = new Array<ColourName>(c).fill(spec.colour);
        edits.push({ type, group: g, words: [spec.words.count], regionObjects: extra, weight: 0.25, depicted: String(c) });
        break;
      }
      case 'object': {
        const k = rng.pick(KINDS.filter((x) => x !== spec.kind && !prompt.groups.some((o) => o.kind === x)));
        dg.kind = k;
        edits.push({ type, group: g, words: [spec.words.noun], regionObjects: [...dg.colours.keys()], weight: 0.35, depicted: k });
        break;
      }
      case 'missing': {
        if (prompt.groups.length === 1 && !rng.chance(0.3)) continue;
        if ([...used].some((u) => u.endsWith(`:${g}`))) continue;
        const words = [spec.words.colour, spec.words.noun];
        if (spec.count > 1 || /^(one|two|three|four)$/.test(prompt.words[spec.words.count].text)) words.unshift(spec.words.count);
        dg.colours = [];
        missing.add(g);
        edits.push({ type, group: g, words, regionObjects: [], weight: prompt.groups.length === 1 ? 0.7 : 0.45 });
        break;
      }
      case 'position': {
        if (spec.position === undefined || spec.words.position === undefined) continue;
        const taken = new Set(groups.map((x) => x.position));
        const p = rng.pick(POSITIONS.filter((x) => x !== spec.position && !taken.has(x)));
        dg.position = p;
        edits.push({ type, group: g, words: [spec.words.position], regionObjects: [...dg.colours.keys()], weight: 0.2, depicted: p });
        break;
      }
      case 'background': {
        if (prompt.backgroundWord === undefined) continue;
        background = rng.pick(BACKGROUNDS.filter((b) => b !== prompt.background));
        edits.push({ type, words: [prompt.backgroundWord], regionObjects: [], weight: 0.2, depicted: background });
        break;
      }
    }
    used.add(key);
  }
  // Region objects of a colour/position/object edit must follow later count changes on the same group.
  for (const e of edits) {
    if (e.group !== undefined && (e.type === 'object' || e.type === 'position')) e.regionObjects = [...groups[e.group].colours.keys()];
  }
  return { groups, background, edits };
}

// ---------------------------------------------------------------------------------------------------
// Artifacts

export type ArtifactType = 'duplicate' | 'slice' | 'smear' | 'warp' | 'blotch';

interface ArtifactBase {
  /** Pixel box of the damaged region. */
  box: Box;
  /** Contribution to implausibility, ~0.1–0.36. */
  severity: number;
  /** Index of the placed object it damages, if any. */
  object?: number;
}
export type Artifact = ArtifactBase &
  (
    | { type: 'duplicate'; prim: Prim; colour: number[] }
    | { type: 'slice'; band: Box; dx: number; dy: number }
    | { type: 'smear'; cx: number; cy: number; rx: number; ry: number; angle: number; length: number; strength: number }
    | { type: 'warp'; cx: number; cy: number; r: number; angle: number }
    | { type: 'blotch'; circles: Array<[number, number, number]>; colour: number[]; strength: number; noiseKey: number }
  );

/** Severity of each artifact type at full intensity and size. */
export const SEVERITY_BASE: Record<ArtifactType, number> = { duplicate: 0.36, slice: 0.36, smear: 0.26, warp: 0.3, blotch: 0.32 };

/** An artifact's contribution to implausibility from its intensity and size (pixels) in a W-wide image. */
export function severity(type: ArtifactType, intensity: number, size: number, W: number): number {
  return SEVERITY_BASE[type] * (0.45 + 0.55 * Math.min(1, intensity)) * (0.45 + 0.55 * Math.min(1, size / (0.16 * W)));
}

/** A point on an object's outline region (where smears/warps are visible), or anywhere. */
function nearEdge(rng: Rng, o: PlacedObject | undefined, W: number, H: number): [number, number] {
  if (!o) return [rng.uniform(0.2, 0.8) * W, rng.uniform(0.2, 0.8) * H];
  const a = rng.uniform(0, 2 * Math.PI);
  const d = o.s * rng.uniform(0.45, 0.9);
  return [Math.min(W - 1, Math.max(0, o.cx + d * Math.cos(a))), Math.min(H - 1, Math.max(0, o.cy + d * Math.sin(a)))];
}

function planBlotch(rng: Rng, o: PlacedObject | undefined, size: number, intensity: number, W: number, H: number, objIdx?: number): Artifact {
  const [cx, cy] = o ? nearEdge(rng, o, W, H) : [rng.uniform(0.1, 0.9) * W, rng.uniform(0.1, 0.9) * H];
  const circles: Array<[number, number, number]> = [];
  for (let k = rng.int(3, 5); k > 0; k--) {
    circles.push([cx + rng.normal(0, size * 0.35), cy + rng.normal(0, size * 0.35), size * rng.uniform(0.35, 0.7)]);
  }
  const b = circles.reduce(
    (acc, [x, y, r]) => [Math.min(acc[0], x - r), Math.min(acc[1], y - r), Math.max(acc[2], x + r), Math.max(acc[3], y + r)],
    [Infinity, Infinity, -Infinity, -Infinity],
  );
  const colour = [rng.next(), rng.next(), rng.next()];
  return {
    type: 'blotch', circles, colour, strength: intensity, noiseKey: rng.next32(),
    box: clipBox(b, W, H), severity: severity('blotch', intensity, size, W), object: objIdx,
  };
}

/**
 * An extra copy of a part (ear, leg, wheel, ray…) moved to a wrong place beside its object. With the
 * drawn scene at hand, copies that would vanish into what lies under them are re-drawn (up to 6 tries).
 */
function planDuplicate(
  rng: Rng,
  dupable: ReadonlyArray<readonly [PlacedObject, number]>,
  W: number,
  H: number,
  canvas?: Canvas,
): Artifact | undefined {
  for (let attempt = 0; attempt < 6; attempt++) {
    const [obj, k] = rng.pick(dupable);
    const p = rng.pick(objectParts(obj).filter((x) => x.part.dup));
    const [bx0, by0, bx1, by1] = primBounds(p.prim);
    const pc = [(bx0 + bx1) / 2, (by0 + by1) / 2];
    let dir = Math.atan2(pc[1] - obj.cy, pc[0] - obj.cx);
    if (Math.hypot(pc[0] - obj.cx, pc[1] - obj.cy) < 1e-3) dir = rng.uniform(0, 2 * Math.PI);
    dir += (rng.chance(0.5) ? 1 : -1) * rng.uniform(0.6, 2.2);
    const dist = obj.s * CATALOGUE[obj.kind].scale * rng.uniform(0.95, 1.3);
    const scale = (p.part.dup ?? 1) * rng.uniform(0.85, 1.1);
    const nx = obj.cx + dist * Math.cos(dir);
    const ny = obj.cy + dist * Math.sin(dir);
    if (canvas) {
      const under = canvas.get(nx, ny);
      if (Math.hypot(under[0] - p.colour[0], under[1] - p.colour[1], under[2] - p.colour[2]) / Math.sqrt(3) < 0.15) continue;
    }
    const prim = movePrim(p.prim, nx - pc[0], ny - pc[1], scale);
    const b = primBounds(prim);
    const box = clipBox([b[0] - 1, b[1] - 1, b[2] + 1, b[3] + 1], W, H);
    if (box[2] - box[0] < 2 || box[3] - box[1] < 2) continue;
    const extent = Math.sqrt((box[2] - box[0]) * (box[3] - box[1]));
    return { type: 'duplicate', prim, colour: p.colour, box, severity: severity('duplicate', 0.9, extent, W), object: k };
  }
  return undefined;
}

/**
 * Plan 0–3 artifacts (≈30 % of images have none) on the laid-out objects. `canvas` (the scene drawn so
 * far) lets duplicated parts avoid places where they would be invisible.
 */
export function planArtifacts(rng: Rng, objects: ReadonlyArray<PlacedObject>, W: number, H: number, canvas?: Canvas): Artifact[] {
  const n = rng.weighted([0.3, 0.35, 0.22, 0.13]);
  const out: Artifact[] = [];
  for (let i = 0; i < n; i++) {
    const dupable = objects.map((o, k) => [o, k] as const).filter(([o]) => CATALOGUE[o.kind].parts.some((p) => p.dup));
    let type = (['duplicate', 'slice', 'smear', 'warp', 'blotch'] as const)[rng.weighted([0.22, 0.2, 0.18, 0.18, 0.22])];
    if ((type === 'duplicate' && dupable.length === 0) || (type === 'slice' && objects.length === 0)) type = 'blotch';
    const size = rng.uniform(0.045, 0.16) * W;
    const intensity = rng.uniform(0.55, 1);
    const objIdx = objects.length > 0 && rng.chance(type === 'blotch' ? 0.6 : 1) ? rng.int(0, objects.length - 1) : undefined;
    const o = objIdx === undefined ? undefined : objects[objIdx];
    switch (type) {
      case 'duplicate': {
        const a = planDuplicate(rng, dupable, W, H, canvas);
        if (a) {
          out.push(a);
          break;
        }
        // No visible duplicate (e.g. a white part on snow): a blotch instead, at the same object.
        out.push(planBlotch(rng, o, size, intensity, W, H, objIdx));
        break;
      }
      case 'slice': {
        const obj = o!;
        const horizontal = rng.chance(0.5);
        const th = Math.max(3, size * rng.uniform(0.6, 1));
        const shift = Math.max(2, obj.s * rng.uniform(0.3, 0.6)) * (rng.chance(0.5) ? 1 : -1);
        const [ox0, oy0, ox1, oy1] = obj.box;
        let band: Box;
        if (horizontal) {
          const y = rng.uniform(oy0, Math.max(oy0, oy1 - th));
          band = clipBox([ox0 - Math.abs(shift), y, ox1 + Math.abs(shift), y + th], W, H);
        } else {
          const x = rng.uniform(ox0, Math.max(ox0, ox1 - th));
          band = clipBox([x, oy0 - Math.abs(shift), x + th, oy1 + Math.abs(shift)], W, H);
        }
        const inten = Math.abs(shift) / Math.max(2, obj.s * 0.6);
        out.push({
          type, band, dx: horizontal ? Math.round(shift) : 0, dy: horizontal ? 0 : Math.round(shift),
          box: band, severity: severity(type, inten, Math.max(th, Math.sqrt(th * obj.s)), W), object: objIdx,
        });
        break;
      }
      case 'smear': {
        const [cx, cy] = nearEdge(rng, o, W, H);
        const rx = size;
        const ry = size * rng.uniform(0.5, 1);
        const box = clipBox([cx - rx, cy - ry, cx + rx, cy + ry], W, H);
        out.push({
          type, cx, cy, rx, ry, angle: rng.uniform(0, Math.PI), length: size * rng.uniform(0.8, 1.5), strength: intensity,
          box, severity: severity(type, intensity, size, W), object: objIdx,
        });
        break;
      }
      case 'warp': {
        const [cx, cy] = nearEdge(rng, o, W, H);
        const r = size * 1.1;
        out.push({
          type, cx, cy, r, angle: (rng.chance(0.5) ? 1 : -1) * intensity * rng.uniform(2, 4),
          box: clipBox([cx - r, cy - r, cx + r, cy + r], W, H), severity: severity(type, intensity, size, W), object: objIdx,
        });
        break;
      }
      case 'blotch':
        out.push(planBlotch(rng, o, size, intensity, W, H, objIdx));
        break;
    }
  }
  // An artifact clipped away entirely (off-image) would be invisible: drop it.
  return out.filter((a) => a.box[2] - a.box[0] >= 2 && a.box[3] - a.box[1] >= 2);
}

/** Draw the duplicated parts (before grading, like the rest of the scene). */
export function drawDuplicates(cv: Canvas, artifacts: ReadonlyArray<Artifact>): void {
  for (const a of artifacts) if (a.type === 'duplicate') fillPrim(cv, a.prim, a.colour);
}

function sampleBilinear(src: Float32Array, W: number, H: number, x: number, y: number, out: number[]): void {
  const xc = Math.min(W - 1, Math.max(0, x - 0.5));
  const yc = Math.min(H - 1, Math.max(0, y - 0.5));
  const x0 = Math.floor(xc);
  const y0 = Math.floor(yc);
  const x1 = Math.min(W - 1, x0 + 1);
  const y1 = Math.min(H - 1, y0 + 1);
  const fx = xc - x0;
  const fy = yc - y0;
  for (let k = 0; k < 3; k++) {
    const a = src[(y0 * W + x0) * 3 + k] * (1 - fx) + src[(y0 * W + x1) * 3 + k] * fx;
    const b = src[(y1 * W + x0) * 3 + k] * (1 - fx) + src[(y1 * W + x1) * 3 + k] * fx;
    out[k] = a * (1 - fy) + b * fy;
  }
}

/** Apply the pixel-level artifacts (slice, smear, warp, blotch) in order, after grading. */
export function applyPixelArtifacts(cv: Canvas, artifacts: ReadonlyArray<Artifact>): void {
  const W = cv.width;
  const H = cv.height;
  const d = cv.data;
  const px = [0, 0, 0];
  for (const a of artifacts) {
    if (a.type === 'duplicate') continue;
    const src = d.slice();
    const [x0, y0, x1, y1] = a.box;
    for (let y = y0; y < y1; y++) {
      for (let x = x0; x < x1; x++) {
        const o = (y * W + x) * 3;
        const fx = x + 0.5;
        const fy = y + 0.5;
        switch (a.type) {
          case 'slice': {
            const sx = Math.min(x1 - 1, Math.max(x0, x - a.dx));
            const sy = Math.min(y1 - 1, Math.max(y0, y - a.dy));
            const so = (sy * W + sx) * 3;
            d[o] = src[so];
            d[o + 1] = src[so + 1];
            d[o + 2] = src[so + 2];
            break;
          }
          case 'smear': {
            const k = Math.hypot((fx - a.cx) / a.rx, (fy - a.cy) / a.ry);
            if (k >= 1) break;
            const m = a.strength * (1 - k * k);
            const acc = [0, 0, 0];
            const steps = 9;
            for (let s = 0; s < steps; s++) {
              const t = (s / (steps - 1) - 0.5) * a.length;
              sampleBilinear(src, W, H, fx + t * Math.cos(a.angle), fy + t * Math.sin(a.angle), px);
              acc[0] += px[0];
              acc[1] += px[1];
              acc[2] += px[2];
            }
            for (let c = 0; c < 3; c++) d[o + c] = src[o + c] + (acc[c] / steps - src[o + c]) * m;
            break;
          }
          case 'warp': {
            const rx = fx - a.cx;
            const ry = fy - a.cy;
            const dist = Math.hypot(rx, ry);
            if (dist >= a.r) break;
            const th = -a.angle * (1 - dist / a.r) ** 2;
            const c = Math.cos(th);
            const s = Math.sin(th);
            sampleBilinear(src, W, H, a.cx + c * rx - s * ry, a.cy + s * rx + c * ry, px);
            d[o] = px[0];
            d[o + 1] = px[1];
            d[o + 2] = px[2];
            break;
          }
          case 'blotch':
            break;
        }
      }
    }
    if (a.type === 'blotch') {
      // Per-pixel colour noise inside the union of circles; its own stream keeps it reproducible.
      const noise = new Rng('blotch', a.noiseKey);
      for (const [cx, cy, r] of a.circles) {
        const prim: Prim = { t: 'circle', c: [cx, cy], r };
        const [bx0, by0, bx1, by1] = clipBox(primBounds(prim), W, H);
        for (let y = by0; y < by1; y++) {
          for (let x = bx0; x < bx1; x++) {
            const dd = Math.hypot(x + 0.5 - cx, y + 0.5 - cy);
            if (dd > r) continue;
            const alpha = a.strength * 0.9 * Math.min(1, (r - dd) / 1.5 + 0.3);
            const o = (y * W + x) * 3;
            for (let c = 0; c < 3; c++) {
              const v = Math.min(1, Math.max(0, a.colour[c] + noise.normal(0, 0.28)));
              d[o + c] += (v - d[o + c]) * alpha;
            }
          }
        }
      }
    }
  }
}
