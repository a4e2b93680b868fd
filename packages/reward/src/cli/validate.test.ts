import * as fs from 'fs';
import * as os from 'os';
import * as path from 'path';
import { UserError } from '../errors';
import { DEFAULT_LIMITS, getLimits, setLimits } from '../io/limits';
import { applyLimitOptions, checkExists, checkInt, checkNumber, checkOutDir, checkOutFile } from './validate';

let tmp: string;
beforeAll(() => (tmp = fs.mkdtempSync(path.join(os.tmpdir(), 'rahf-validate-'))));
afterAll(() => {
  fs.rmSync(tmp, { recursive: true, force: true });
  setLimits({ ...DEFAULT_LIMITS });
});

test('numbers: NaN (yargs for "abc"), fractions and out-of-range values are refused by name', () => {
  expect(() => checkInt('batch-size', NaN)).toThrow('--batch-size must be an integer >= 1, got NaN');
  expect(() => checkInt('batch-size', 2.5)).toThrow(UserError);
  expect(() => checkInt('seed', -1, 0)).toThrow('--seed must be an integer >= 0, got -1');
  expect(() => checkInt('n', 11, 1, 10)).toThrow('--n must be an integer in [1, 10], got 11');
  expect(() => checkInt('batch-size', undefined)).not.toThrow();
  expect(() => checkNumber('lr', Infinity)).toThrow('--lr must be a number > 0, got Infinity');
});

test('paths: --out may not be a file (folders) or a directory (files); inputs must exist', () => {
  const file = path.join(tmp, 'f.txt');
  fs.writeFileSync(file, 'x');
  expect(() => checkOutDir('out', file)).toThrow(`--out ${file}: exists and is not a directory`);
  expect(() => checkOutDir('out', path.join(tmp, 'new', 'deeper'))).not.toThrow();
  expect(() => checkOutDir('out', path.join(file, 'sub'))).toThrow(`is not a directory`);
  expect(() => checkOutFile('out', tmp)).toThrow(`--out ${tmp}: is a directory; it names a file to write`);
  expect(() => checkOutFile('out', path.join(tmp, 'r.json'))).not.toThrow();
  expect(() => checkExists('prompts', path.join(tmp, 'none.jsonl'), 'file')).toThrow('no such file');
  expect(() => checkExists('images', file, 'dir')).toThrow(`--images ${file}: not a directory`);
});

test('--max-* options set the input limits for the process', () => {
  applyLimitOptions({ 'max-image-pixels': 100_000_000 });
  expect(getLimits().maxImagePixels).toBe(100_000_000);
  expect(() => applyLimitOptions({ 'max-image-pixels': NaN })).toThrow('--max-image-pixels must be a positive integer, got NaN');
});
