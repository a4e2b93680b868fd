import * as fs from 'fs';
import * as os from 'os';
import * as path from 'path';
import { Tokenizer } from './tokenizer';
import { parityDir } from './parity/fixtures';

const smallJson = path.join(parityDir(), 'tokenizer', 'tokenizer.json');
const rahfT5Json = path.join(parityDir(), 'rahf', 't5', 'tokenizer.json');

let tmp: string;
beforeAll(() => {
  tmp = fs.mkdtempSync(path.join(os.tmpdir(), 'rahf-tok-'));
});
afterAll(() => fs.rmSync(tmp, { recursive: true, force: true }));

function writeTmp(name: string, content: string): string {
  const f = path.join(tmp, name);
  fs.mkdirSync(path.dirname(f), { recursive: true });
  fs.writeFileSync(f, content);
  return f;
}

/**
 * A T5-style tokenizer.json (structure of the RAHF T5 one: WhitespaceSplit + Metaspace, `</s>` template,
 * 100 extra ids) whose Unigram vocabulary is the RAHF fixture's spiece.vocab plus `_` and digits, so that
 * words like `red_0` — what the RAHF keyword decoder emits — are covered like in t5-base.
 */
function t5LikeJson(): string {
  const base = JSON.parse(fs.readFileSync(rahfT5Json, 'utf8'));
  const pieces: [string, number][] = fs
    .readFileSync(path.join(parityDir(), 'rahf', 'spiece.vocab'), 'utf8')
    .split('\n')
    .filter((l) => l.length > 0)
    .map((l) => {
      const [p, s] = l.split('\t');
      return [p, Number(s)];
    });
  for (const extra of ['_', '0', '1', '2', ',', '.']) pieces.push([extra, -12]);
  const vocab = [...pieces];
  const added = base.added_tokens.filter((t: { id: number }) => t.id < 3); // <pad> </s> <unk>
  for (let i = 99; i >= 0; i--) {
    added.push({ id: vocab.length, content: `<extra_id_${i}>`, single_word: false, lstrip: false, rstrip: false, normalized: false, special: true });
    vocab.push([`<extra_id_${i}>`, 0]);
  }
  return JSON.stringify({
    ...base,
    added_tokens: added,
    model: { ...base.model, vocab },
  });
}

describe('Tokenizer loading', () => {
  test('missing file names the file', () => {
    const f = path.join(tmp, 'nope', 'tokenizer.json');
    expect(() => Tokenizer.fromFile(f)).toThrow(`${f}: no such file`);
  });

  test('non-JSON file is a one-line error naming the file', () => {
    const f = writeTmp('bad/tokenizer.json', 'this is { not json');
    let msg = '';
    try {
      Tokenizer.fromFile(f);
    } catch (e) {
      msg = (e as Error).message;
    }
    expect(msg.startsWith(`${f}: not a JSON tokenizer.json`)).toBe(true);
    expect(msg).not.toContain('\n');
  });

  test('JSON that is not a tokenizer is refused', () => {
    const f = writeTmp('cfg/tokenizer.json', JSON.stringify({ model_type: 't5', d_model: 8 }));
    expect(() => Tokenizer.fromFile(f)).toThrow(`${f}: not a tokenizer.json`);
    const g = writeTmp('arr/tokenizer.json', '[1,2,3]');
    expect(() => Tokenizer.fromFile(g)).toThrow(`${g}: not a tokenizer.json`);
  });

  test('fromDir without tokenizer.json explains that spiece.model is unsupported', () => {
    const dir = path.join(tmp, 'spiece-only');
    fs.mkdirSync(dir, { recursive: true });
    fs.writeFileSync(path.join(dir, 'spiece.model'), 'x');
    expect(() => Tokenizer.fromDir(dir)).toThrow(/tokenizer\.json: no such file \(only spiece\.model found: SentencePiece models are not supported/);
    const empty = fs.mkdtempSync(path.join(tmp, 'empty-'));
    expect(() => Tokenizer.fromDir(empty)).toThrow(new RegExp(`${path.join(empty, 'tokenizer.json')}: no such file$`));
  });

  test('fromDir loads the RAHF T5 directory and reads pad/eos from tokenizer_config.json', () => {
    const t = Tokenizer.fromDir(path.dirname(rahfT5Json));
    expect(t.padId).toBe(0);
    expect(t.eosId).toBe(1);
    expect(t.tokenToId('<extra_id_0>')).toBe(103);
  });
});

describe('Tokenizer encode/decode', () => {
  test('ids are plain numbers and end with </s>', () => {
    const t = Tokenizer.fromFile(smallJson);
    const ids = t.encode('a red cat');
    expect(ids.every((i) => typeof i === 'number' && Number.isInteger(i))).toBe(true);
    expect(ids[ids.length - 1]).toBe(t.eosId);
    expect(t.encode('')).toEqual([t.eosId]);
  });

  test('decode round-trips text covered by the vocabulary', () => {
    const t = Tokenizer.fromFile(smallJson);
    for (const text of ['a yellow cat sitting on a red sofa', 'an astronaut riding a horse']) {
      expect(t.decode(t.encode(text), true)).toBe(text);
    }
    expect(t.decode(t.encode('a cat'))).toBe('a cat</s>');
    expect(t.decode([])).toBe('');
  });

  test('"a red_0 cat" style keywords round-trip through a T5-style tokenizer', () => {
    const f = writeTmp('t5like/tokenizer.json', t5LikeJson());
    fs.copyFileSync(path.join(path.dirname(rahfT5Json), 'tokenizer_config.json'), path.join(tmp, 't5like', 'tokenizer_config.json'));
    const t = Tokenizer.fromFile(f);
    // "_0" is not a word of its own: Metaspace only marks the word start, so red_0 → ▁red _ 0.
    expect(t.tokens('a red_0 cat')).toEqual(['▁a', '▁red', '_', '0', '▁cat', '</s>']);
    for (const text of ['a red_0 cat', 'two_0 astronaut riding a horse on the moon', 'a man jumping in the river at night_0']) {
      const ids = t.encode(text);
      expect(ids).not.toContain(t.tokenToId('<unk>'));
      expect(t.decode(ids, true)).toBe(text);
    }
    // Special tokens typed in the text are matched as added tokens, as in HF.
    expect(t.encode('<extra_id_0> cat')).toEqual([t.tokenToId('<extra_id_0>'), t.tokenToId('▁cat'), 1]);
    expect(t.decode([t.tokenToId('<extra_id_0>')!, t.tokenToId('▁cat')!, 1], true)).toBe('cat');
  });
});

describe('Tokenizer.encodeBatch', () => {
  const t = () => Tokenizer.fromFile(smallJson);

  test('pads to the longest row with padId and mask 0', () => {
    const tok = t();
    const texts = ['a cat', 'a yellow cat sitting on a red sofa'];
    const { ids, mask } = tok.encodeBatch(texts);
    const a = tok.encode(texts[0]);
    const b = tok.encode(texts[1]);
    expect(ids[1]).toEqual(b);
    expect(ids[0]).toEqual([...a, ...new Array(b.length - a.length).fill(tok.padId)]);
    expect(mask[0]).toEqual([...new Array(a.length).fill(1), ...new Array(b.length - a.length).fill(0)]);
    expect(mask[1].every((m) => m === 1)).toBe(true);
  });

  test('padTo a fixed length and refuses a too-short padTo', () => {
    const tok = t();
    const { ids, mask } = tok.encodeBatch(['a cat'], { padTo: 16 });
    expect(ids[0].length).toBe(16);
    expect(mask[0].reduce((s, v) => s + v, 0)).toBe(tok.encode('a cat').length);
    expect(() => tok.encodeBatch(['a yellow cat sitting on a red sofa'], { padTo: 4 })).toThrow(/padTo 4 is shorter/);
  });

  test('truncation keeps </s> last like HF truncation=True', () => {
    const tok = t();
    const text = 'a yellow cat sitting on a red sofa';
    const full = tok.encode(text);
    const { ids, mask } = tok.encodeBatch([text, 'a cat'], { maxLength: 8, padTo: 8 });
    expect(ids[0]).toEqual([...full.slice(0, 7), tok.eosId]);
    expect(mask[0]).toEqual(new Array(8).fill(1));
    expect(ids[1].slice(0, tok.encode('a cat').length)).toEqual(tok.encode('a cat'));
    // Shorter than maxLength: untouched.
    expect(tok.encodeBatch([text], { maxLength: full.length })).toEqual({ ids: [full], mask: [full.map(() => 1)] });
    expect(() => tok.encodeBatch([text], { maxLength: 1 })).toThrow(/no room for text/);
  });
});
