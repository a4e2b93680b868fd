import * as fs from 'fs';
import * as os from 'os';
import * as path from 'path';
import { expectModelType, field, intField, readJsonConfig, withFile } from './hf-config';

let dir: string;
beforeAll(() => {
  dir = fs.mkdtempSync(path.join(os.tmpdir(), 'hf-config-'));
});
afterAll(() => fs.rmSync(dir, { recursive: true }));

test('reads config.json from a directory or a .json path', () => {
  fs.writeFileSync(path.join(dir, 'config.json'), '{"model_type": "vit", "hidden_size": 8}');
  expect(readJsonConfig(dir)).toEqual({ model_type: 'vit', hidden_size: 8 });
  expect(readJsonConfig(path.join(dir, 'config.json')).hidden_size).toBe(8);
});

test('missing, malformed and non-object files give one line naming the file', () => {
  const missing = path.join(dir, 'nope');
  expect(() => readJsonConfig(missing)).toThrow(`${path.join(missing, 'config.json')}: cannot read (file not found)`);
  const bad = path.join(dir, 'bad.json');
  fs.writeFileSync(bad, '{"a": 1,');
  expect(() => readJsonConfig(bad)).toThrow(new RegExp(`^${bad.replace(/[.*+?^${}()|[\]\\/]/g, '\\$&')}: not valid JSON \\([^\\n]*\\)$`));
  const arr = path.join(dir, 'arr.json');
  fs.writeFileSync(arr, '[1, 2]');
  expect(() => readJsonConfig(arr)).toThrow(`${arr}: expected a JSON object at the top level`);
});

test('field helpers apply defaults and reject wrong types', () => {
  expect(field({}, 'eps', 1e-5)).toBe(1e-5);
  expect(field({ eps: 1e-6 }, 'eps', 1e-5)).toBe(1e-6);
  expect(() => field({ act: 3 }, 'act', 'gelu', 'text_config')).toThrow('text_config.act: expected a string, got 3');
  expect(() => intField({ n: 2.5 }, 'n', 1)).toThrow('config.n: expected a positive integer, got 2.5');
  expect(() => intField({ n: 0 }, 'n', 1)).toThrow('positive integer');
  expect(() => expectModelType({ model_type: 'bert' }, ['vit', 'clip'])).toThrow('model_type "bert" is not "vit" or "clip"');
  expect(() => expectModelType({}, ['vit'])).not.toThrow();
});

test('withFile prefixes the file once', () => {
  expect(() => withFile('/a/b.json', () => { throw new Error('boom'); })).toThrow(/^\/a\/b\.json: boom$/);
  expect(() => withFile('/a/b.json', () => { throw new Error('/a/b.json: boom'); })).toThrow(/^\/a\/b\.json: boom$/);
  expect(withFile('/x', () => 3)).toBe(3);
});
