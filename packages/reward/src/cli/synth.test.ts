import * as fs from 'fs';
import * as os from 'os';
import * as path from 'path';
import { UserError } from '../errors';
import { runSynth } from './synth';

let dir: string;
beforeEach(() => (dir = fs.mkdtempSync(path.join(os.tmpdir(), 'cli-synth-'))));
afterEach(() => fs.rmSync(dir, { recursive: true, force: true }));

test('writes a world and may overwrite its own output, dropping stale images', async () => {
  const out = path.join(dir, 'w');
  expect(await runSynth({ out, n: 12, seed: 3, size: 32, progress: false })).toBe(0);
  expect(fs.readdirSync(path.join(out, 'images'))).toHaveLength(12);
  expect(JSON.parse(fs.readFileSync(path.join(out, 'world.json'), 'utf8'))).toMatchObject({ seed: 3, n: 12, size: 32, mapSize: 32 });
  expect(await runSynth({ out, n: 5, seed: 3, size: 32, progress: false })).toBe(0);
  expect(fs.readdirSync(path.join(out, 'images'))).toHaveLength(5);
  expect(fs.readdirSync(out).filter((f) => f.includes('.tmp-'))).toEqual([]);
});

test('rejects bad options and foreign folders', async () => {
  await expect(runSynth({ out: dir, n: 0 })).rejects.toThrow(/--n must be an integer/);
  await expect(runSynth({ out: dir, n: 2, size: 8 })).rejects.toThrow(/--size/);
  await expect(runSynth({ out: dir, n: 2, noise: -1 })).rejects.toThrow(/--noise/);
  fs.writeFileSync(path.join(dir, 'precious.txt'), 'x');
  await expect(runSynth({ out: dir, n: 2 })).rejects.toThrow(UserError);
  await expect(runSynth({ out: dir, n: 2 })).rejects.toThrow(/not empty and not a synthetic world/);
});
