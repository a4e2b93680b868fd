/**
 * Scene tokens: the synthetic world's scene description quantised into a fixed-length sequence, the
 * vocabulary of the masked transformer. A sequence is 9 prompt tokens (what the caption asks: each group's
 * kind, colour, count and position, the named background) followed by 49 scene tokens — background, the
 * grade (3), 6 object slots (kind with its prompt group, colour with mirror, x, y, size) and 3 artifact
 * slots (type, damaged object, x, y, size with intensity). The world's renderer decodes a scene sequence to
 * pixels and exact truth, the part Muse's fixed VQ decoder plays; continuous details the tokens do not say
 * (an object's colour jitter, a smear's angle, the background's texture) are drawn from a stream keyed by
 * the sequence, so decoding is a pure function of the tokens.
 *
 * Every field has its own id range in one vocabulary; position p may only take ids of its field (the model
 * masks the other logits). Id 0 is [MASK], id 1 the dropped-prompt token of classifier-free guidance.
 */
import {
  artifactFromSpec,
  artifactSpec,
  BACKGROUNDS,
  COLOURS,
  COLOUR_NAMES,
  KINDS,
  objectBox,
  POSITIONS,
  Rng,
  type Artifact,
  type ArtifactType,
  type Background,
  type ColourName,
  type Kind,
  type PlacedObject,
  type Position,
  type PromptSpec,
  type Scene,
} from '@richhf/reward/data';

export const MASK_ID = 0;
export const NULL_ID = 1;
export const OBJECT_SLOTS = 6;
export const ARTIFACT_SLOTS = 3;
const GRID = 24;
const OBJECT_SIZES = 8;
const ARTIFACT_SIZES = 8;
const INTENSITIES = 4;
/** Artifact types as tokens: slices carry their direction. */
const ART_TYPES = ['duplicate', 'slice-h', 'slice-v', 'smear', 'warp', 'blotch'] as const;

interface FieldDef {
  name: string;
  size: number;
}

// Prompt fields. "none" (value 0 where present) marks an absent second group, an unset position, an unnamed background.
const PROMPT_FIELDS: FieldDef[] = [
  { name: 'g0.kind', size: KINDS.length },
  { name: 'g0.colour', size: COLOUR_NAMES.length },
  { name: 'g0.count', size: 4 },
  { name: 'g0.position', size: 1 + POSITIONS.length },
  { name: 'g1.kind', size: 1 + KINDS.length },
  { name: 'g1.colour', size: 1 + COLOUR_NAMES.length },
  { name: 'g1.count', size: 1 + 4 },
  { name: 'g1.position', size: 1 + POSITIONS.length },
  { name: 'background', size: 1 + BACKGROUNDS.length },
];

// Scene fields; slot fields are shared by the slots, and their value 0 is an empty slot.
const SCENE_FIELDS: FieldDef[] = [
  { name: 'background', size: BACKGROUNDS.length },
  { name: 'saturation', size: 8 },
  { name: 'exposure', size: 8 },
  { name: 'contrast', size: 8 },
  { name: 'object.kind', size: 1 + 2 * KINDS.length },
  { name: 'object.colour', size: 1 + 2 * COLOUR_NAMES.length },
  { name: 'object.x', size: 1 + GRID },
  { name: 'object.y', size: 1 + GRID },
  { name: 'object.size', size: 1 + OBJECT_SIZES },
  { name: 'artifact.type', size: 1 + ART_TYPES.length },
  { name: 'artifact.object', size: 1 + OBJECT_SLOTS },
  { name: 'artifact.x', size: 1 + GRID },
  { name: 'artifact.y', size: 1 + GRID },
  { name: 'artifact.size', size: 1 + ARTIFACT_SIZES * INTENSITIES },
];

const OBJECT_FIELDS = ['object.kind', 'object.colour', 'object.x', 'object.y', 'object.size'];
const ARTIFACT_FIELDS = ['artifact.type', 'artifact.object', 'artifact.x', 'artifact.y', 'artifact.size'];

/** Field name of each position of a full sequence (prompt, then scene). */
const POSITION_FIELDS: string[] = [
  ...PROMPT_FIELDS.map((f) => `prompt.${f.name}`),
  'background', 'saturation', 'exposure', 'contrast',
  ...Array.from({ length: OBJECT_SLOTS }, () => OBJECT_FIELDS).flat(),
  ...Array.from({ length: ARTIFACT_SLOTS }, () => ARTIFACT_FIELDS).flat(),
];

const FIELDS = new Map<string, { offset: number; size: number }>();
let nextId = 2;
for (const f of [...PROMPT_FIELDS.map((p) => ({ ...p, name: `prompt.${p.name}` })), ...SCENE_FIELDS]) {
  FIELDS.set(f.name, { offset: nextId, size: f.size });
  nextId += f.size;
}

export const PROMPT_LEN = PROMPT_FIELDS.length;
export const SCENE_LEN = POSITION_FIELDS.length - PROMPT_LEN;
export const SEQ_LEN = POSITION_FIELDS.length;
export const VOCAB = nextId;

/** First id and number of ids of the field at each sequence position. */
export const POSITION_RANGES: ReadonlyArray<{ offset: number; size: number }> = POSITION_FIELDS.map((f) => FIELDS.get(f)!);

/** Scene-token positions (0-based within the scene part) of object slot k and artifact slot k. */
export const objectSlotPositions = (k: number): number[] => OBJECT_FIELDS.map((_, j) => 4 + k * OBJECT_FIELDS.length + j);
export const artifactSlotPositions = (k: number): number[] =>
  ARTIFACT_FIELDS.map((_, j) => 4 + OBJECT_SLOTS * OBJECT_FIELDS.length + k * ARTIFACT_FIELDS.length + j);

const id = (field: string, value: number): number => {
  const f = FIELDS.get(field)!;
  if (!(value >= 0 && value < f.size)) throw new Error(`scene tokens: ${field} value ${value} out of range 0..${f.size - 1}`);
  return f.offset + value;
};
/** The value of the id at scene position p (−1 for [MASK] or an id outside the field). */
const valueAt = (tokens: ArrayLike<number>, p: number): number => {
  const r = POSITION_RANGES[PROMPT_LEN + p];
  const v = tokens[p] - r.offset;
  return v >= 0 && v < r.size ? v : -1;
};

const bin = (v: number, lo: number, hi: number, n: number) => Math.min(n - 1, Math.max(0, Math.floor(((v - lo) / (hi - lo)) * n)));
const centre = (b: number, lo: number, hi: number, n: number) => lo + ((b + 0.5) * (hi - lo)) / n;
const GRADE = { saturation: [0.35, 1.15], exposure: [-0.25, 0.25], contrast: [0.7, 1.2] } as const;
const OBJECT_S: [number, number] = [6.5, 23.5];
// Artifact sizes span 3–32 px: log-spaced bins keep small ones apart.
const ART_LOG: [number, number] = [Math.log(3), Math.log(32)];
const INTENSITY: [number, number] = [0.5, 1];

// ---------------------------------------------------------------------------------------------------
// Prompt

/** The 9 prompt tokens of a prompt spec. */
export function promptTokens(p: PromptSpec): number[] {
  const [g0, g1] = p.groups;
  const pos = (x?: Position) => (x === undefined ? 0 : 1 + POSITIONS.indexOf(x));
  return [
    id('prompt.g0.kind', KINDS.indexOf(g0.kind)),
    id('prompt.g0.colour', COLOUR_NAMES.indexOf(g0.colour)),
    id('prompt.g0.count', g0.count - 1),
    id('prompt.g0.position', pos(g0.position)),
    id('prompt.g1.kind', g1 ? 1 + KINDS.indexOf(g1.kind) : 0),
    id('prompt.g1.colour', g1 ? 1 + COLOUR_NAMES.indexOf(g1.colour) : 0),
    id('prompt.g1.count', g1 ? g1.count : 0),
    id('prompt.g1.position', g1 ? pos(g1.position) : 0),
    id('prompt.background', p.backgroundWord === undefined ? 0 : 1 + BACKGROUNDS.indexOf(p.background)),
  ];
}

// ---------------------------------------------------------------------------------------------------
// Scene → tokens

/** The scene tokens of a world scene, or undefined when it does not fit the slots (over 6 objects). */
export function encodeScene(scene: Scene): number[] | undefined {
  const W = scene.width;
  const H = scene.height;
  if (scene.objects.length > OBJECT_SLOTS || scene.artifacts.length > ARTIFACT_SLOTS) return undefined;
  const out = [
    id('background', BACKGROUNDS.indexOf(scene.background)),
    id('saturation', bin(scene.grade.saturation, ...GRADE.saturation, 8)),
    id('exposure', bin(scene.grade.exposure, ...GRADE.exposure, 8)),
    id('contrast', bin(scene.grade.contrast, ...GRADE.contrast, 8)),
  ];
  for (let k = 0; k < OBJECT_SLOTS; k++) {
    const o = scene.objects[k];
    if (!o) {
      out.push(...OBJECT_FIELDS.map((f) => id(f, 0)));
      continue;
    }
    out.push(
      id('object.kind', 1 + Math.min(o.group, 1) * KINDS.length + KINDS.indexOf(o.kind)),
      id('object.colour', 1 + COLOUR_NAMES.indexOf(o.colour) * 2 + (o.flip ? 1 : 0)),
      id('object.x', 1 + bin(o.cx, 0, W, GRID)),
      id('object.y', 1 + bin(o.cy, 0, H, GRID)),
      id('object.size', 1 + bin(o.s, ...OBJECT_S, OBJECT_SIZES)),
    );
  }
  for (let k = 0; k < ARTIFACT_SLOTS; k++) {
    const a = scene.artifacts[k];
    if (!a) {
      out.push(...ARTIFACT_FIELDS.map((f) => id(f, 0)));
      continue;
    }
    const s = artifactSpec(a, scene.objects, W);
    const type = s.type === 'slice' ? (s.horizontal ? 'slice-h' : 'slice-v') : s.type;
    const size = bin(Math.log(Math.max(3, s.size)), ...ART_LOG, ARTIFACT_SIZES);
    out.push(
      id('artifact.type', 1 + ART_TYPES.indexOf(type as (typeof ART_TYPES)[number])),
      id('artifact.object', s.object === undefined ? 0 : 1 + s.object),
      id('artifact.x', 1 + bin(s.cx, 0, W, GRID)),
      id('artifact.y', 1 + bin(s.cy, 0, H, GRID)),
      id('artifact.size', 1 + size * INTENSITIES + bin(s.intensity, ...INTENSITY, INTENSITIES)),
    );
  }
  return out;
}

// ---------------------------------------------------------------------------------------------------
// Tokens → scene

/** 32-bit FNV-1a of a token sequence: the key of its decoding details. */
export function tokenHash(tokens: ArrayLike<number>): number {
  let h = 0x811c9dc5;
  for (let i = 0; i < tokens.length; i++) {
    h ^= tokens[i] & 0xff;
    h = Math.imul(h, 0x01000193) >>> 0;
    h ^= tokens[i] >>> 8;
    h = Math.imul(h, 0x01000193) >>> 0;
  }
  return h;
}

export interface DecodedScene {
  scene: Scene;
  /** Object index in scene.objects of each object slot (−1: empty), artifact index of each artifact slot. */
  objectSlots: number[];
  artifactSlots: number[];
}

/**
 * The scene a token sequence describes, for a prompt with `nGroups` groups, in a `size`² image. Empty
 * slots are skipped; an object of a second group the prompt lacks is drawn as part of its first; an
 * artifact naming an empty slot damages no object; an artifact that would be invisible is dropped. A
 * position holding [MASK] or a foreign id reads as empty.
 */
export function decodeScene(tokens: ArrayLike<number>, nGroups: number, size = 128): DecodedScene {
  if (tokens.length !== SCENE_LEN) throw new Error(`scene tokens: expected ${SCENE_LEN} tokens, got ${tokens.length}`);
  const W = size;
  const H = size;
  const h = tokenHash(tokens);
  const v = (p: number, fallback = 0) => {
    const x = valueAt(tokens, p);
    return x < 0 ? fallback : x;
  };
  const background: Background = BACKGROUNDS[v(0)];
  const grade = {
    saturation: centre(v(1, 5), ...GRADE.saturation, 8),
    exposure: centre(v(2, 4), ...GRADE.exposure, 8),
    contrast: centre(v(3, 4), ...GRADE.contrast, 8),
  };
  const objects: PlacedObject[] = [];
  const objectSlots: number[] = [];
  for (let k = 0; k < OBJECT_SLOTS; k++) {
    const [pk, pc, px, py, ps] = objectSlotPositions(k).map((p) => v(p));
    if (pk === 0 || pc === 0 || px === 0 || py === 0 || ps === 0) {
      objectSlots.push(-1);
      continue;
    }
    const group = Math.min(Math.floor((pk - 1) / KINDS.length), nGroups - 1);
    const kind: Kind = KINDS[(pk - 1) % KINDS.length];
    const colour: ColourName = COLOUR_NAMES[Math.floor((pc - 1) / 2)];
    const rng = new Rng('scene-tokens', h, 'object', k);
    const rgb = COLOURS[colour].map((c) => Math.min(255, Math.max(0, c + rng.uniform(-12, 12))) / 255);
    const o = { group, kind, colour, rgb, cx: centre(px - 1, 0, W, GRID), cy: centre(py - 1, 0, H, GRID), s: centre(ps - 1, ...OBJECT_S, OBJECT_SIZES), flip: (pc - 1) % 2 === 1 };
    objectSlots.push(objects.length);
    objects.push({ ...o, box: objectBox(o, W, H) });
  }
  const artifacts: Artifact[] = [];
  const artifactSlots: number[] = [];
  for (let k = 0; k < ARTIFACT_SLOTS; k++) {
    const [pt, po, px, py, ps] = artifactSlotPositions(k).map((p) => v(p));
    if (pt === 0 || px === 0 || py === 0 || ps === 0) {
      artifactSlots.push(-1);
      continue;
    }
    const t = ART_TYPES[pt - 1];
    const type: ArtifactType = t === 'slice-h' || t === 'slice-v' ? 'slice' : t;
    const obj = po === 0 ? -1 : objectSlots[po - 1];
    const sb = Math.floor((ps - 1) / INTENSITIES);
    const spec = {
      type,
      horizontal: t === 'slice-h',
      object: obj >= 0 ? obj : undefined,
      cx: centre(px - 1, 0, W, GRID),
      cy: centre(py - 1, 0, H, GRID),
      size: Math.exp(centre(sb, ...ART_LOG, ARTIFACT_SIZES)),
      intensity: centre((ps - 1) % INTENSITIES, ...INTENSITY, INTENSITIES),
    };
    const a = artifactFromSpec(spec, objects, W, H, new Rng('scene-tokens', h, 'artifact', k));
    artifactSlots.push(a ? artifacts.length : -1);
    if (a) artifacts.push(a);
  }
  const scene: Scene = { width: W, height: H, background, texture: ['scene-tokens', h], objects, artifacts, grade };
  return { scene, objectSlots, artifactSlots };
}

/** Human-readable field name of each sequence position (for messages and the README). */
export const positionFieldNames = (): readonly string[] => POSITION_FIELDS;
