import * as fs from 'fs';
import * as os from 'os';
import * as path from 'path';
import { UserError } from '@richhf/reward';
import { ClipTokenizer, clipTokenizerJson } from './clip-tokenizer';
import { TINY_CLIP_MERGES, TINY_CLIP_VOCAB, writeTinyClipTokenizer } from '../testing/sd-tiny';

let tmp: string;
beforeEach(() => {
  tmp = fs.mkdtempSync(path.join(os.tmpdir(), 'guide-tok-'));
});
afterEach(() => fs.rmSync(tmp, { recursive: true, force: true }));

const v = (t: string) => TINY_CLIP_VOCAB[t];

// Hand-derived: lowercase, CLIP's word split, each word's characters with "</w>" on the last, then the merges
// in rank order: "a photo of a red cat." → a</w> | p h o t o</w> → ph → pho, t o</w> → to</w>, pho to</w> →
// photo</w> | o f</w> (no merge) | a</w> | r e → re, re d</w> → red</w> | c a → ca, ca t</w> → cat</w> | .</w>
const SENTENCE = 'A  photo of a RED cat.';
const BODY = ['a</w>', 'photo</w>', 'o', 'f</w>', 'a</w>', 'red</w>', 'cat</w>', '.</w>'];

test('vocab.json + merges.txt: ids as CLIP encodes them, bos/eos around, padded to model_max_length', () => {
  writeTinyClipTokenizer(tmp, { maxLength: 16, pad: '!' });
  const tok = ClipTokenizer.fromDir(tmp);
  expect(tok.maxLength).toBe(16);
  expect(tok.tokens(SENTENCE)).toEqual(BODY);
  const [row] = tok.encode([SENTENCE]);
  expect(row).toEqual([v('<|startoftext|>'), ...BODY.map(v), v('<|endoftext|>'), ...new Array(6).fill(v('!'))]);
  expect(row[0]).toBe(49);
  expect(row[9]).toBe(98);
  expect(row[10]).toBe(0);
  // The empty prompt (classifier-free guidance's unconditional row): bos, eos, pad.
  expect(tok.encode([''])[0]).toEqual([49, 98, ...new Array(14).fill(0)]);
});

test('long prompts are cut so eos stays last; pad defaults to eos (SD 1.x)', () => {
  writeTinyClipTokenizer(tmp, { maxLength: 6 });
  const tok = ClipTokenizer.fromDir(tmp);
  expect(tok.countTokens(SENTENCE)).toBe(8);
  expect(tok.encode([SENTENCE])[0]).toEqual([49, ...BODY.slice(0, 4).map(v), 98]);
  expect(tok.encode(['cat'])[0]).toEqual([49, v('cat</w>'), 98, 98, 98, 98]);
  expect(tok.padId).toBe(98);
});

test('tokenizer.json gives the same ids as vocab.json + merges.txt', () => {
  const json = clipTokenizerJson(TINY_CLIP_VOCAB, TINY_CLIP_MERGES, '<|startoftext|>', '<|endoftext|>', '<|endoftext|>');
  fs.writeFileSync(path.join(tmp, 'tokenizer.json'), JSON.stringify(json));
  fs.writeFileSync(path.join(tmp, 'tokenizer_config.json'), JSON.stringify({ model_max_length: 16, pad_token: '!' }));
  const tok = ClipTokenizer.fromDir(tmp);
  const other = fs.mkdtempSync(path.join(os.tmpdir(), 'guide-tok-'));
  try {
    writeTinyClipTokenizer(other, { maxLength: 16, pad: '!' });
    expect(tok.encode([SENTENCE, 'red photo', ''])).toEqual(ClipTokenizer.fromDir(other).encode([SENTENCE, 'red photo', '']));
  } finally {
    fs.rmSync(other, { recursive: true, force: true });
  }
});

test('characters outside the vocabulary become the unknown token', () => {
  writeTinyClipTokenizer(tmp, { maxLength: 8 });
  const tok = ClipTokenizer.fromDir(tmp);
  expect(tok.encode(['cat 7'])[0]).toEqual([49, v('cat</w>'), 98, 98, 98, 98, 98, 98]); // "7</w>" unknown → <|endoftext|>
});

test('a folder without a tokenizer, or with broken files, is a one-line UserError naming the file', () => {
  expect(() => ClipTokenizer.fromDir(tmp)).toThrow(new UserError(`${tmp}: no tokenizer.json, and no vocab.json + merges.txt (a CLIP tokenizer folder)`));
  writeTinyClipTokenizer(tmp, {});
  fs.writeFileSync(path.join(tmp, 'merges.txt'), '#version: 0.2\nc a\nbroken\n');
  expect(() => ClipTokenizer.fromDir(tmp)).toThrow(`${path.join(tmp, 'merges.txt')}: line "broken" is not a pair of tokens`);
  fs.writeFileSync(path.join(tmp, 'vocab.json'), '{"a": ');
  expect(() => ClipTokenizer.fromDir(tmp)).toThrow(new RegExp(`^${path.join(tmp, 'vocab.json')}: not JSON`));
});
