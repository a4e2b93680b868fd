import * as fs from 'fs';
import * as os from 'os';
import * as path from 'path';
import { UserError } from '@richhf/reward';
import { readPrompts } from './prompts';

let dir: string;
beforeEach(() => (dir = fs.mkdtempSync(path.join(os.tmpdir(), 'ft-prompts-'))));
afterEach(() => fs.rmSync(dir, { recursive: true, force: true }));

const write = (name: string, text: string) => {
  const f = path.join(dir, name);
  fs.writeFileSync(f, text);
  return f;
};

test('plain text: line n (from 0) is prompt id n, blank lines skipped but counted', () => {
  const p = readPrompts(write('p.txt', 'a red cat\r\n\n  two dogs  \n'));
  expect(p.map((e) => [e.id, e.prompt, e.key, e.line])).toEqual([
    ['0', 'a red cat', '0', 1],
    ['2', 'two dogs', '2', 3],
  ]);
});

test('JSONL: ids as given (numbers too), defaulting to the line number; unsafe ids get safe keys', () => {
  const p = readPrompts(write('p.jsonl', ['{"id":"cat","prompt":"a cat"}', '{"id":7,"prompt":"seven"}', '{"prompt":"no id"}', '{"id":"../../x","prompt":"escape"}'].join('\n')));
  expect(p.map((e) => e.id)).toEqual(['cat', '7', '2', '../../x']);
  expect(p[3].key).toMatch(/^x-[0-9a-f]{12}$/);
});

test('broken lines, duplicate ids and empty files are one-line UserErrors naming file and line', () => {
  const cases: Array<[string, string, RegExp]> = [
    ['a.jsonl', '{"id":1,"prompt":"x"}\n{"id":2,"prompt":"y"\n', /--prompts a\.jsonl:2: not a JSON object/],
    ['b.jsonl', '{"id":1}\n', /b\.jsonl:1: "prompt" must be a non-empty string/],
    ['c.jsonl', '["x"]\n', /c\.jsonl:1: expected a JSON object/],
    ['d.jsonl', '{"id":1,"prompt":"x"}\n{"id":"1","prompt":"y"}\n', /d\.jsonl:2: id "1" repeats \(first at line 1\)/],
    ['e.jsonl', '{"id":{"a":1},"prompt":"x"}\n', /"id" must be a string or a number/],
    ['f.txt', '\n\n', /no prompts/],
  ];
  for (const [name, text, re] of cases) {
    const f = write(name, text);
    let err: unknown;
    try {
      readPrompts(f);
    } catch (e) {
      err = e;
    }
    expect(err).toBeInstanceOf(UserError);
    expect((err as Error).message).toMatch(re);
    expect((err as Error).message).not.toContain('\n');
  }
  expect(() => readPrompts(path.join(dir, 'missing.txt'))).toThrow(/--prompts .*missing\.txt: no such file/);
});
