import { promptWords } from '../../rahf/keywords';
import { COLOUR_NAMES, KINDS, nounFor, parsePrompt, samplePrompt } from './grammar';
import { Rng } from './rng';

describe('samplePrompt', () => {
  const prompts = [...Array(400).keys()].map((i) => samplePrompt(new Rng(5, i, 'prompt')));

  test('words are exactly promptWords(caption), so labels line up with RichHF words', () => {
    for (const p of prompts) expect(promptWords(p.caption)).toEqual(p.words.map((w) => w.text));
  });

  test('each group names its count, colour, noun and position at the recorded indices', () => {
    for (const p of prompts) {
      p.groups.forEach((g, gi) => {
        expect(p.words[g.words.colour]).toMatchObject({ text: g.colour, role: 'colour', group: gi });
        expect(p.words[g.words.noun]).toMatchObject({ text: nounFor(g.kind, g.count), role: 'object', group: gi });
        expect(p.words[g.words.count].role).toBe('count');
        if (g.position) expect(p.words[g.words.position!]).toMatchObject({ text: g.position, role: 'position' });
        else expect(g.words.position).toBeUndefined();
      });
      if (p.backgroundWord !== undefined) expect(p.words[p.backgroundWord].role).toBe('background');
    }
  });

  test('covers the vocabulary: all kinds, colours, 1–3 objects, one and two groups, named and unnamed backgrounds', () => {
    const kinds = new Set(prompts.flatMap((p) => p.groups.map((g) => g.kind)));
    const colours = new Set(prompts.flatMap((p) => p.groups.map((g) => g.colour)));
    const counts = new Set(prompts.flatMap((p) => p.groups.map((g) => g.count)));
    expect(kinds.size).toBe(KINDS.length);
    expect(colours.size).toBe(COLOUR_NAMES.length);
    expect([...counts].sort()).toEqual([1, 2, 3]);
    expect(new Set(prompts.map((p) => p.groups.length))).toEqual(new Set([1, 2]));
    expect(new Set(prompts.map((p) => p.backgroundWord === undefined))).toEqual(new Set([true, false]));
  });

  test('"an" before vowels', () => {
    for (const p of prompts) expect(p.caption).not.toMatch(/\ba [aeiou]/);
  });

  test('the same stream gives the same prompt; another stream another', () => {
    expect(samplePrompt(new Rng(5, 3, 'prompt'))).toEqual(prompts[3]);
    expect(prompts.slice(0, 20).map((p) => p.caption)).not.toEqual(
      [...Array(20).keys()].map((i) => samplePrompt(new Rng(6, i, 'prompt')).caption),
    );
  });
});

describe('parsePrompt', () => {
  test('inverts samplePrompt on 3000 prompts (an unnamed background reads as plain)', () => {
    for (let i = 0; i < 3000; i++) {
      const p = samplePrompt(new Rng(4, i, 'prompt'));
      const q = parsePrompt(p.caption);
      expect(q).toEqual(p.backgroundWord === undefined ? { ...p, background: 'plain' } : p);
    }
  });

  test('text outside the grammar is undefined', () => {
    for (const t of ['a red cat on a sofa', 'two red cat', 'a red cats', 'a red cat and a blue cat', '', 'a red cat  at night', 'a red ball, high quality extra']) {
      expect(parsePrompt(t)).toBeUndefined();
    }
    expect(parsePrompt('a red cat, two blue balls on the left at night')?.groups.map((g) => [g.kind, g.count, g.position])).toEqual([['cat', 1, undefined], ['ball', 2, 'left']]);
  });
});
