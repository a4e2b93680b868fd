import * as fs from 'fs';
import * as path from 'path';
import { Tokenizer } from '../tokenizer';
import { readSafetensors } from '../io/safetensors';
import { parityDir } from './fixtures';

// Every directory under the parity root holding a tokenizer.json is a tokenizer case. With a cases.json
// beside it ([{text, ids, tokens}] from HF tokenizers) ids and tokens must match exactly; without one,
// the sibling directories' expectations that involve it (model vocab size, decoded generations) are checked.

interface Case {
  text: string;
  ids: number[];
  tokens?: string[];
}

function tokenizerDirs(root: string): string[] {
  const out: string[] = [];
  const walk = (dir: string) => {
    const entries = fs.readdirSync(dir, { withFileTypes: true });
    if (entries.some((e) => e.isFile() && e.name === 'tokenizer.json')) out.push(dir);
    for (const e of entries) if (e.isDirectory()) walk(path.join(dir, e.name));
  };
  if (fs.existsSync(root)) walk(root);
  return out.sort();
}

function readJson<T>(file: string): T {
  return JSON.parse(fs.readFileSync(file, 'utf8')) as T;
}

const root = parityDir();
const dirs = tokenizerDirs(root);

test('parity fixtures contain tokenizer cases', () => {
  expect(dirs.length).toBeGreaterThan(0);
});

for (const dir of dirs) {
  const rel = path.relative(root, dir);
  const casesFile = path.join(dir, 'cases.json');

  if (fs.existsSync(casesFile)) {
    for (const c of readJson<Case[]>(casesFile)) {
      test(`${rel}: ${JSON.stringify(c.text)}`, () => {
        const tok = Tokenizer.fromDir(dir);
        expect(tok.encode(c.text)).toEqual(c.ids);
        if (c.tokens) expect(tok.tokens(c.text)).toEqual(c.tokens);
      });
    }
  }

  // A model config beside the tokenizer (rahf/t5/config.json): every id must index its embedding table.
  const modelCfg = path.join(dir, 'config.json');
  const siblings = fs
    .readdirSync(path.dirname(dir), { withFileTypes: true })
    .filter((e) => e.isDirectory() && path.join(path.dirname(dir), e.name) !== dir)
    .map((e) => path.join(path.dirname(dir), e.name));
  const captioned = siblings.filter((s) => fs.existsSync(path.join(s, 'config.json')) && readJson<{ captions?: string[] }>(path.join(s, 'config.json')).captions);

  if (fs.existsSync(modelCfg) && captioned.length > 0) {
    test(`${rel}: sibling captions encode within the model vocabulary, </s> last`, () => {
      const tok = Tokenizer.fromDir(dir);
      const { vocab_size: vocab, eos_token_id: eos } = readJson<{ vocab_size: number; eos_token_id?: number }>(modelCfg);
      for (const s of captioned) {
        const cfg = readJson<{ captions: string[]; target_text_for_loss?: string[] }>(path.join(s, 'config.json'));
        for (const text of [...cfg.captions, ...(cfg.target_text_for_loss ?? [])]) {
          const ids = tok.encode(text);
          expect(Math.max(...ids)).toBeLessThan(vocab);
          if (eos !== undefined) expect(ids[ids.length - 1]).toBe(eos);
        }
      }
    });
  }

  // Generations recorded by the reference (io generated_ids) must decode to its config's output_seq.
  for (const s of captioned) {
    const cfg = readJson<{ output_seq?: string[] }>(path.join(s, 'config.json'));
    const io = path.join(s, 'io.safetensors');
    if (!cfg.output_seq || !fs.existsSync(io)) continue;
    test(`${rel}: decodes ${path.relative(root, s)} generated_ids to output_seq`, () => {
      const tok = Tokenizer.fromDir(dir);
      const gen = readSafetensors(io).get('generated_ids');
      if (!gen) throw new Error(`${io}: no generated_ids`);
      const [rows, cols] = gen.shape;
      const decoded = Array.from({ length: rows }, (_, r) => tok.decode(Array.from(gen.data.subarray(r * cols, (r + 1) * cols)), true));
      expect(decoded).toEqual(cfg.output_seq);
    });
  }
}
