/**
 * Artifacts as a few numbers — type, the object it damages, centre, size, intensity — and back. The world
 * plans artifacts with many continuous details (a smear's angle, a blotch's circles); a sampler that speaks
 * in coarse tokens (the masked transformer of @richhf/finetune) says only these few, and the details are
 * drawn from a stream the caller keys, so the same spec always makes the same artifact. Severity follows
 * from the made artifact exactly as in the world (defects.ts); the intensity of a world artifact's spec is
 * the one that gives back its severity at its size.
 */
import { clipBox, movePrim, primBounds, type Box } from './canvas';
import { severity, SEVERITY_BASE, type Artifact, type ArtifactType } from './defects';
import { objectParts, type PlacedObject } from './objects';
import type { Rng } from './rng';

export interface ArtifactSpec {
  type: ArtifactType;
  /** Slices: a band across the object shifted sideways (true) or a column shifted up/down (false). */
  horizontal?: boolean;
  /** Index of the damaged object in the scene's objects. */
  object?: number;
  /** Centre in pixels. */
  cx: number;
  cy: number;
  /** Pixels: a smear's radius, a warp's radius / 1.1, a slice's thickness, a duplicate's extent, a blotch's spread. */
  size: number;
  /** 0–1. */
  intensity: number;
}

/** The intensity that gives `sev` at size factor `sizeArg` (inverse of defects.ts severity). */
function intensityOf(type: ArtifactType, sev: number, sizeArg: number, W: number): number {
  const f = 0.45 + 0.55 * Math.min(1, sizeArg / (0.16 * W));
  return Math.min(1, Math.max(0, (sev / (SEVERITY_BASE[type] * f) - 0.45) / 0.55));
}

const centre = (b: Box): [number, number] => [(b[0] + b[2]) / 2, (b[1] + b[3]) / 2];
const extent = (b: readonly number[]) => Math.sqrt(Math.max(0, b[2] - b[0]) * Math.max(0, b[3] - b[1]));

/** The spec of an artifact of `objects`' scene (W wide). */
export function artifactSpec(a: Artifact, objects: ReadonlyArray<PlacedObject>, W: number): ArtifactSpec {
  const [cx, cy] = centre(a.box);
  switch (a.type) {
    case 'duplicate':
      return { type: a.type, object: a.object, cx, cy, size: extent(a.box), intensity: 0.9 };
    case 'slice': {
      const horizontal = a.dx !== 0;
      const th = horizontal ? a.band[3] - a.band[1] : a.band[2] - a.band[0];
      const s = a.object !== undefined ? objects[a.object].s : th;
      return { type: a.type, horizontal, object: a.object, cx, cy, size: th, intensity: Math.min(1, Math.abs(horizontal ? a.dx : a.dy) / Math.max(2, s * 0.6)) };
    }
    case 'smear':
      return { type: a.type, object: a.object, cx: a.cx, cy: a.cy, size: a.rx, intensity: a.strength };
    case 'warp':
      return { type: a.type, object: a.object, cx: a.cx, cy: a.cy, size: a.r / 1.1, intensity: intensityOf('warp', a.severity, a.r / 1.1, W) };
    case 'blotch': {
      const k = a.circles.length;
      const size = a.circles.reduce((s, c) => s + c[2], 0) / k / 0.525;
      const mx = a.circles.reduce((s, c) => s + c[0], 0) / k;
      const my = a.circles.reduce((s, c) => s + c[1], 0) / k;
      return { type: a.type, object: a.object, cx: mx, cy: my, size, intensity: intensityOf('blotch', a.severity, size, W) };
    }
  }
}

/**
 * The artifact a spec describes in a W×H scene of `objects`, its free details drawn from `rng`; undefined
 * when it would be invisible (clipped to under 2 pixels). A duplicate or slice without an object to damage
 * becomes a blotch, as in the world's planner.
 */
export function artifactFromSpec(spec: ArtifactSpec, objects: ReadonlyArray<PlacedObject>, W: number, H: number, rng: Rng): Artifact | undefined {
  const obj = spec.object !== undefined ? objects[spec.object] : undefined;
  const objIdx = obj ? spec.object : undefined;
  const size = Math.max(1, spec.size);
  const intensity = Math.min(1, Math.max(0, spec.intensity));
  const { cx, cy } = spec;
  let a: Artifact | undefined;
  switch (spec.type) {
    case 'duplicate': {
      const parts = obj ? objectParts(obj).filter((p) => p.part.dup) : [];
      if (parts.length === 0) return artifactFromSpec({ ...spec, type: 'blotch' }, objects, W, H, rng);
      // The part whose copy (at its duplicate scale) is nearest the spec's size, scaled within the world's range.
      const padded = (b: readonly number[]) => extent([b[0] - 1, b[1] - 1, b[2] + 1, b[3] + 1]);
      const ext = parts.map((p) => padded(primBounds(movePrim(p.prim, 0, 0, p.part.dup!))));
      let k = 0;
      for (let i = 1; i < parts.length; i++) if (Math.abs(ext[i] - size) < Math.abs(ext[k] - size)) k = i;
      const p = parts[k];
      const scale = p.part.dup! * Math.min(1.1, Math.max(0.85, size / Math.max(1e-6, ext[k])));
      const [bx0, by0, bx1, by1] = primBounds(p.prim);
      const prim = movePrim(p.prim, cx - (bx0 + bx1) / 2, cy - (by0 + by1) / 2, scale);
      const b = primBounds(prim);
      const box = clipBox([b[0] - 1, b[1] - 1, b[2] + 1, b[3] + 1], W, H);
      a = { type: 'duplicate', prim, colour: p.colour, box, severity: severity('duplicate', 0.9, extent(box), W), object: objIdx };
      break;
    }
    case 'slice': {
      if (!obj) return artifactFromSpec({ ...spec, type: 'blotch' }, objects, W, H, rng);
      const horizontal = spec.horizontal ?? true;
      const th = Math.max(3, size);
      const shift = Math.max(2, intensity * Math.max(2, obj.s * 0.6)) * (rng.chance(0.5) ? 1 : -1);
      const [ox0, oy0, ox1, oy1] = obj.box;
      const band = horizontal
        ? clipBox([ox0 - Math.abs(shift), cy - th / 2, ox1 + Math.abs(shift), cy + th / 2], W, H)
        : clipBox([cx - th / 2, oy0 - Math.abs(shift), cx + th / 2, oy1 + Math.abs(shift)], W, H);
      const inten = Math.abs(shift) / Math.max(2, obj.s * 0.6);
      a = {
        type: 'slice', band, dx: horizontal ? Math.round(shift) : 0, dy: horizontal ? 0 : Math.round(shift),
        box: band, severity: severity('slice', inten, Math.max(th, Math.sqrt(th * obj.s)), W), object: objIdx,
      };
      break;
    }
    case 'smear': {
      const ry = size * rng.uniform(0.5, 1);
      a = {
        type: 'smear', cx, cy, rx: size, ry, angle: rng.uniform(0, Math.PI), length: size * rng.uniform(0.8, 1.5), strength: intensity,
        box: clipBox([cx - size, cy - ry, cx + size, cy + ry], W, H), severity: severity('smear', intensity, size, W), object: objIdx,
      };
      break;
    }
    case 'warp': {
      const r = size * 1.1;
      a = {
        type: 'warp', cx, cy, r, angle: (rng.chance(0.5) ? 1 : -1) * Math.max(0.55, intensity) * rng.uniform(2, 4),
        box: clipBox([cx - r, cy - r, cx + r, cy + r], W, H), severity: severity('warp', intensity, size, W), object: objIdx,
      };
      break;
    }
    case 'blotch': {
      const circles: Array<[number, number, number]> = [];
      for (let k = rng.int(3, 5); k > 0; k--) circles.push([cx + rng.normal(0, size * 0.35), cy + rng.normal(0, size * 0.35), size * rng.uniform(0.35, 0.7)]);
      const b = circles.reduce(
        (acc, [x, y, r]) => [Math.min(acc[0], x - r), Math.min(acc[1], y - r), Math.max(acc[2], x + r), Math.max(acc[3], y + r)],
        [Infinity, Infinity, -Infinity, -Infinity],
      );
      a = {
        type: 'blotch', circles, colour: [rng.next(), rng.next(), rng.next()], strength: intensity, noiseKey: rng.next32(),
        box: clipBox(b, W, H), severity: severity('blotch', intensity, size, W), object: objIdx,
      };
      break;
    }
  }
  return a.box[2] - a.box[0] >= 2 && a.box[3] - a.box[1] >= 2 ? a : undefined;
}
