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
