import * as fs from 'fs';
import * as os from 'os';
import * as path from 'path';
import { collectImages, promptFor, readPromptsJsonl } from './inputs';

let dir: string;
beforeAll(() => {
  dir = fs.mkdtempSync(path.join(os.tmpdir(), 'inputs-'));
  fs.mkdirSync(path.join(dir, 'nested'));
  for (const f of ['b.png', 'a.JPG', 'notes.txt', 'nested/c.webp']) fs.writeFileSync(path.join(dir, f), '');
});
afterAll(() => fs.rmSync(dir, { recursive: true, force: true }));

test('folders expand to their image files, sorted and recursive; missing paths are failures', () => {
  const r = collectImages([dir, path.join(dir, 'notes.txt'), path.join(dir, 'nope.png')]);
  expect(r.files.map((f) => path.relative(dir, f))).toEqual(['a.JPG', 'b.png', path.join('nested', 'c.webp'), 'notes.txt']);
  expect(r.skipped).toBe(1);
  expect(r.failures).toEqual([{ file: path.join(dir, 'nope.png'), error: `${path.join(dir, 'nope.png')}: no such file or directory` }]);
});

test('prompts JSONL matches by path or base name and rejects malformed lines with the line number', () => {
  const f = path.join(dir, 'p.jsonl');
  fs.writeFileSync(f, '{"file": "b.png", "prompt": "a cat"}\n\n{"file": "/x/y.png", "prompt": "a dog"}\n');
  const m = readPromptsJsonl(f);
  expect(promptFor(path.join(dir, 'b.png'), m)).toBe('a cat');
  expect(promptFor('/x/y.png', m)).toBe('a dog');
  expect(promptFor('z.png', m)).toBeUndefined();
  fs.writeFileSync(f, '{"file": "b.png", "prompt": "a cat"}\n{oops\n');
  expect(() => readPromptsJsonl(f)).toThrow(`${f}:2: not valid JSON`);
  fs.writeFileSync(f, '{"file": 3}\n');
  expect(() => readPromptsJsonl(f)).toThrow(/:1: expected \{"file": "...", "prompt": "..."\}/);
});
