import * as fs from 'fs';
import * as os from 'os';
import * as path from 'path';
import { Tokenizer } from '../tokenizer';
import { generateExample } from '../data/synth/world';
import { labelsToSequence, misalignedWords } from '../rahf/keywords';
import { grammarWords, SYNTH_TOKENIZER_DIR, synthTokenizerFiles, writeSynthTokenizer } from './tokenizer-build';

describe('synthetic-world tokenizer', () => {
  let tok: Tokenizer;
  beforeAll(() => {
    const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'synth-tok-'));
    tok = Tokenizer.fromFile(writeSynthTokenizer(dir));
  });

  it('the bundled asset is exactly what the generator writes', () => {
    for (const [name, text] of Object.entries(synthTokenizerFiles())) {
      expect(fs.readFileSync(path.join(SYNTH_TOKENIZER_DIR, name), 'utf8')).toBe(text);
    }
  });

  it('has T5 special ids and a small vocabulary', () => {
    expect(tok.padId).toBe(0);
    expect(tok.eosId).toBe(1);
    expect(tok.tokenToId('<unk>')).toBe(2);
    expect(tok.vocabSize).toBeLessThan(256);
    expect(grammarWords()).toEqual(expect.arrayContaining(['yellow', 'balloons', 'people', 'illustration', '4k']));
  });

  it('round-trips synthetic captions and their _0 targets, one piece per grammar word', () => {
    for (let i = 0; i < 60; i++) {
      const ex = generateExample({ seed: 3, size: 32 }, i);
      const ids = tok.encode(ex.caption);
      expect(ids[ids.length - 1]).toBe(1);
      expect(ids).not.toContain(2);
      expect(tok.decode(ids, true)).toBe(ex.caption);
      const target = labelsToSequence(ex.caption, ex.truth.labels);
      const tids = tok.encode(target);
      expect(tok.decode(tids, true)).toBe(target);
      // Every word is one piece (plus "_0" for marked words, plus separators like ",").
      const words = target.split(' ');
      const marks = words.filter((w) => w.endsWith('_0')).length;
      expect(tok.encode(target.replace(/,/g, '')).length).toBe(words.length + marks + 1);
      expect(misalignedWords(tok.decode(tids, true))).toEqual(misalignedWords(target));
    }
  });

  it('tokenizes any ASCII text without <unk> and decodes "yellow_0"', () => {
    const text = 'Hello, World! ~`|{}[]\\ 0123456789 <tag> x_y A-Z';
    const ids = tok.encode(text);
    expect(ids).not.toContain(2);
    expect(tok.decode(ids, true)).toBe(text);
    expect(tok.tokens('a yellow_0 cat')).toEqual(['▁a', '▁yellow', '_0', '▁cat', '</s>']);
  });
});
