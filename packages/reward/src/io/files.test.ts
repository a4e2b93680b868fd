import { execFileSync } from 'child_process';
import * as fs from 'fs';
import * as os from 'os';
import * as path from 'path';
import { FileFormatError, LimitError } from '../errors';
import { limitsWith } from './limits';
import { openRegular, readRegularFile, readRegularFileAsync } from './files';

let tmp: string;
beforeAll(() => (tmp = fs.mkdtempSync(path.join(os.tmpdir(), 'rahf-files-'))));
afterAll(() => fs.rmSync(tmp, { recursive: true, force: true }));

test('regular files are read whole, within the size limit', async () => {
  const f = path.join(tmp, 'a.json');
  fs.writeFileSync(f, '{"a":1}');
  expect(readRegularFile(f, 'JSON').toString()).toBe('{"a":1}');
  expect((await readRegularFileAsync(f, 'JSON', 'maxJsonBytes')).toString()).toBe('{"a":1}');
  expect(() => readRegularFile(f, 'JSON', 'maxJsonBytes', limitsWith({ maxJsonBytes: 6 }))).toThrow(LimitError);
});

test('FIFOs, devices and directories are refused by type, at once, naming the file', async () => {
  const fifo = path.join(tmp, 'pipe.png');
  execFileSync('mkfifo', [fifo]);
  const t0 = Date.now();
  expect(() => openRegular(fifo, 'an image')).toThrow(`${fifo}: is a FIFO (named pipe), not an image; only regular files are read`);
  await expect(readRegularFileAsync(fifo, 'an image', 'maxImageBytes')).rejects.toThrow(FileFormatError);
  expect(Date.now() - t0).toBeLessThan(1000);
  const zero = path.join(tmp, 'zero.png');
  fs.symlinkSync('/dev/zero', zero);
  expect(() => readRegularFile(zero, 'an image')).toThrow(`${zero}: is a character device, not an image; only regular files are read`);
  expect(() => readRegularFile(tmp, 'an image')).toThrow(`${tmp}: is a directory, not an image`);
  expect(() => readRegularFile(path.join(tmp, 'nope'), 'an image')).toThrow('nope: no such file');
});
