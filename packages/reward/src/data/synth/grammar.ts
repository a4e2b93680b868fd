/**
 * The prompt grammar of the synthetic world: one or two object groups ("two red balls on the left"),
 * an optional background phrase, optional style prefix/suffix. Every generated word carries its role
 * and group, so a misalignment can name exactly the words an image gets wrong; the words are exactly
 * promptWords(caption), the unit RichHF labels refer to.
 */
import { promptWords } from '../../rahf/keywords';
import type { Rng } from './rng';

export type RGB = readonly [number, number, number];

/** Colour words and the 8-bit sRGB they are drawn with. */
export const COLOURS = {
  red: [214, 39, 40],
  green: [44, 160, 44],
  blue: [31, 90, 220],
  yellow: [242, 205, 35],
  orange: [247, 127, 20],
  purple: [128, 60, 170],
  pink: [240, 120, 175],
  white: [245, 245, 245],
  black: [28, 28, 28],
  brown: [125, 78, 40],
} as const satisfies Record<string, RGB>;
export type ColourName = keyof typeof COLOURS;
export const COLOUR_NAMES = Object.keys(COLOURS) as ColourName[];

export const KINDS = [
  'ball', 'sun', 'apple', 'balloon', 'flower', 'house', 'box', 'car', 'tree', 'mountain', 'cat', 'person', 'fish',
] as const;
export type Kind = (typeof KINDS)[number];

const PLURAL: Record<Kind, string> = {
  ball: 'balls', sun: 'suns', apple: 'apples', balloon: 'balloons', flower: 'flowers', house: 'houses',
  box: 'boxes', car: 'cars', tree: 'trees', mountain: 'mountains', cat: 'cats', person: 'people', fish: 'fish',
};

export const POSITIONS = ['left', 'right', 'top', 'bottom', 'center'] as const;
export type Position = (typeof POSITIONS)[number];
/** Where a position word puts an object centre (the world's layout draws from it), as fractions of the image: [x0, x1, y0, y1]. */
export const POSITION_REGION: Readonly<Record<Position | 'any', readonly [number, number, number, number]>> = {
  left: [0.06, 0.4, 0.22, 0.78],
  right: [0.6, 0.94, 0.22, 0.78],
  top: [0.22, 0.78, 0.06, 0.4],
  bottom: [0.22, 0.78, 0.6, 0.94],
  center: [0.36, 0.64, 0.36, 0.64],
  any: [0.12, 0.88, 0.15, 0.85],
};

/** Phrase per position; its last word is the one a wrong position makes misaligned. */
const POSITION_PHRASE: Record<Position, string[]> = {
  left: ['on', 'the', 'left'],
  right: ['on', 'the', 'right'],
  top: ['at', 'the', 'top'],
  bottom: ['at', 'the', 'bottom'],
  center: ['in', 'the', 'center'],
};

export const BACKGROUNDS = ['field', 'beach', 'desert', 'snow', 'night', 'room', 'ocean', 'sunset', 'plain'] as const;
export type Background = (typeof BACKGROUNDS)[number];
/** Phrase per background and the index (in the phrase) of its keyword. */
const BACKGROUND_PHRASE: Record<Background, [string[], number]> = {
  field: [['in', 'a', 'field'], 2],
  beach: [['on', 'a', 'beach'], 2],
  desert: [['in', 'a', 'desert'], 2],
  snow: [['in', 'the', 'snow'], 2],
  night: [['at', 'night'], 1],
  room: [['in', 'a', 'room'], 2],
  ocean: [['by', 'the', 'ocean'], 2],
  sunset: [['at', 'sunset'], 1],
  plain: [['on', 'a', 'plain', 'background'], 2],
};

const PREFIXES = [['a', 'photo', 'of'], ['a', 'drawing', 'of'], ['a', 'painting', 'of'], ['an', 'illustration', 'of']];
const SUFFIXES = [['high', 'quality'], ['digital', 'art'], ['4k'], ['simple', 'shapes']];
const NUMERALS = ['one', 'two', 'three', 'four'];

export type WordRole = 'count' | 'colour' | 'object' | 'position' | 'background' | 'filler';

export interface Word {
  text: string;
  role: WordRole;
  /** The object group the word belongs to (its phrase), if any. */
  group?: number;
  /** Text placed before the word in the caption (" ", ", ", or "" for the first). */
  sep: string;
}

export interface GroupSpec {
  kind: Kind;
  colour: ColourName;
  count: number;
  position?: Position;
  /** Word indices of this group's count, colour, noun and position keyword. */
  words: { count: number; colour: number; noun: number; position?: number };
}

export interface PromptSpec {
  caption: string;
  words: Word[];
  groups: GroupSpec[];
  /** The background the prompt asks for (named) or that the scene happens to use (unnamed). */
  background: Background;
  /** Index of the background keyword when the prompt names one. */
  backgroundWord?: number;
}

export function nounFor(kind: Kind, count: number): string {
  return count === 1 ? kind : PLURAL[kind];
}

/** "a"/"an"/"one"… for a count, given the word that follows. */
function countWord(rng: Rng, count: number, next: string): string {
  if (count === 1 && !rng.chance(0.3)) return /^[aeiou]/.test(next) ? 'an' : 'a';
  return NUMERALS[count - 1];
}

/** Sample a prompt. The background is drawn either way; `backgroundWord` is set when the prompt names it. */
export function samplePrompt(rng: Rng): PromptSpec {
  const words: Word[] = [];
  const push = (text: string, role: WordRole, group?: number, sep = ' ') => {
    words.push({ text, role, group, sep: words.length === 0 ? '' : sep });
    return words.length - 1;
  };

  if (rng.chance(0.35)) for (const w of rng.pick(PREFIXES)) push(w, 'filler');

  const nGroups = rng.chance(0.5) ? 1 : 2;
  const kinds = rng.shuffle([...KINDS]).slice(0, nGroups);
  const positions = rng.shuffle([...POSITIONS]);
  const groups: GroupSpec[] = [];
  for (let g = 0; g < nGroups; g++) {
    const kind = kinds[g];
    const colour = rng.pick(COLOUR_NAMES);
    const count = [1, 1, 1, 2, 2, 3][rng.int(0, 5)];
    const position = rng.chance(0.65) ? positions[g] : undefined;
    const sep = g === 0 ? ' ' : rng.chance(0.5) ? ', ' : ' ';
    if (g > 0 && sep === ' ') push('and', 'filler', g);
    const cw = push(countWord(rng, count, colour), 'count', g, sep);
    const colourIdx = push(colour, 'colour', g);
    const noun = push(nounFor(kind, count), 'object', g);
    let posIdx: number | undefined;
    if (position) {
      const phrase = POSITION_PHRASE[position];
      phrase.forEach((w, i) => {
        const idx = push(w, i === phrase.length - 1 ? 'position' : 'filler', g);
        if (i === phrase.length - 1) posIdx = idx;
      });
    }
    groups.push({ kind, colour, count, position, words: { count: cw, colour: colourIdx, noun, position: posIdx } });
  }

  const background = rng.pick(BACKGROUNDS);
  let backgroundWord: number | undefined;
  if (rng.chance(0.6)) {
    const [phrase, key] = BACKGROUND_PHRASE[background];
    const sep = rng.chance(0.3) ? ', ' : ' ';
    phrase.forEach((w, i) => {
      const idx = push(w, i === key ? 'background' : 'filler', undefined, i === 0 ? sep : ' ');
      if (i === key) backgroundWord = idx;
    });
  }
  if (rng.chance(0.2)) rng.pick(SUFFIXES).forEach((w, i) => push(w, 'filler', undefined, i === 0 ? ', ' : ' '));

  const caption = words.map((w) => w.sep + w.text).join('');
  const check = promptWords(caption);
  if (check.length !== words.length || check.some((w, i) => w !== words[i].text)) {
    throw new Error(`synth grammar: caption "${caption}" does not split into its ${words.length} words`);
  }
  return { caption, words, groups, background, backgroundWord };
}

const COUNT_OF: Record<string, number> = { a: 1, an: 1, one: 1, two: 2, three: 3, four: 4 };
const isColour = (w: string): w is ColourName => Object.prototype.hasOwnProperty.call(COLOURS, w);

/**
 * The spec of a caption the grammar can produce (the inverse of samplePrompt), or undefined for any
 * other text. A caption that names no background leaves `background` at 'plain': a scene sampler sets it
 * to the background its scene uses, as the world's unnamed prompts do.
 */
export function parsePrompt(caption: string): PromptSpec | undefined {
  const toks = [...caption.matchAll(/(^|, | )([^ ,]+)/g)].map((m) => ({ sep: m[1], text: m[2] }));
  if (toks.map((t) => t.sep + t.text).join('') !== caption || toks.length === 0) return undefined;
  const words: Word[] = [];
  let i = 0;
  const at = (k: number) => toks[i + k]?.text;
  const take = (role: WordRole, group?: number) => {
    words.push({ text: toks[i].text, role, group, sep: toks[i].sep });
    return i++;
  };
  const matches = (phrase: readonly string[]) => phrase.every((w, k) => at(k) === w);
  const prefix = PREFIXES.find((p) => matches(p) && at(p.length) !== undefined && at(p.length)! in COUNT_OF);
  if (prefix) prefix.forEach(() => take('filler'));

  const groups: GroupSpec[] = [];
  for (let g = 0; g < 2; g++) {
    if (g === 1) {
      if (at(0) === 'and' && toks[i].sep === ' ') take('filler', 1);
      else if (!(toks[i]?.sep === ', ' && at(0)! in COUNT_OF)) break;
    }
    const countText = at(0);
    const colour = at(1);
    if (countText === undefined || !(countText in COUNT_OF) || colour === undefined || !isColour(colour)) return undefined;
    const count = COUNT_OF[countText];
    const kind = KINDS.find((k) => nounFor(k, count) === at(2));
    if (!kind || (count === 1) !== (countText === 'a' || countText === 'an' || countText === 'one')) return undefined;
    if (groups.some((o) => o.kind === kind)) return undefined;
    const cw = take('count', g);
    const colourIdx = take('colour', g);
    const noun = take('object', g);
    const position = POSITIONS.find((p) => matches(POSITION_PHRASE[p]));
    let posIdx: number | undefined;
    if (position) {
      take('filler', g);
      take('filler', g);
      posIdx = take('position', g);
    }
    groups.push({ kind, colour, count, position, words: { count: cw, colour: colourIdx, noun, position: posIdx } });
  }
  let background: Background = 'plain';
  let backgroundWord: number | undefined;
  const bg = BACKGROUNDS.find((b) => matches(BACKGROUND_PHRASE[b][0]) && toks[i].sep !== '');
  if (bg) {
    const [phrase, key] = BACKGROUND_PHRASE[bg];
    phrase.forEach((_, k) => {
      const idx = take(k === key ? 'background' : 'filler');
      if (k === key) backgroundWord = idx;
    });
    background = bg;
  }
  const suffix = SUFFIXES.find((s) => matches(s) && toks[i].sep === ', ');
  if (suffix) suffix.forEach(() => take('filler'));
  if (i !== toks.length) return undefined;
  return { caption, words, groups, background, backgroundWord };
}
