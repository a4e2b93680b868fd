import * as fs from 'fs';
import * as os from 'os';
import * as path from 'path';
import { GeneratorError } from '../generator';
import { safeKey } from '../ids';
import { colourPng } from '../testing/samples';
import { FolderGenerator } from './folder';
import { openGenerator } from './open';

let dir: string;
beforeEach(() => (dir = fs.mkdtempSync(path.join(os.tmpdir(), 'ft-folder-'))));
afterEach(() => fs.rmSync(dir, { recursive: true, force: true }));
const req = (promptId: string, n: number) => ({ promptId, promptKey: safeKey(promptId), prompt: 'x', n, seeds: [] });

test('DIR/<id>/<k>.<ext>: numeric order, the first n, sidecar seeds and settings, any image type', async () => {
  const d = path.join(dir, 'cat 1');
  fs.mkdirSync(d);
  for (const k of [10, 2, 0]) fs.writeFileSync(path.join(d, `${k}.png`), await colourPng(k));
  fs.writeFileSync(path.join(d, '1.jpg'), await colourPng(1));
  fs.writeFileSync(path.join(d, '2.json'), JSON.stringify({ seed: 77, steps: 30 }));
  fs.writeFileSync(path.join(d, 'notes.txt'), 'ignored');
  const g = await openGenerator(`folder:${dir}`);
  const c = await g.generate(req('cat 1', 3));
  expect(c.map((x) => x.settings.file)).toEqual(['cat 1/0.png', 'cat 1/1.jpg', 'cat 1/2.png']);
  expect(c.map((x) => x.index)).toEqual([0, 1, 2]);
  expect(c.map((x) => x.seed)).toEqual([null, null, 77]);
  expect(c[2].settings).toMatchObject({ generator: 'folder', steps: 30 });
  expect(await g.generate(req('cat 1', 8))).toHaveLength(4);
});

test('ids that are not a plain folder name are looked up by their safe key, never outside DIR', async () => {
  fs.mkdirSync(path.join(dir, 'x'));
  fs.writeFileSync(path.join(dir, 'x', '0.png'), await colourPng(0)); // what ../../x must NOT reach
  const root = path.join(dir, 'cands');
  fs.mkdirSync(path.join(root, safeKey('../x')), { recursive: true });
  fs.writeFileSync(path.join(root, safeKey('../x'), '0.png'), await colourPng(5));
  const g = new FolderGenerator(root);
  expect(g.folderOf(req('../x', 1))).toBe(path.join(root, safeKey('../x')));
  const got = await g.generate(req('../x', 1));
  expect(got[0].source).toBe(path.join(root, safeKey('../x'), '0.png'));
  for (const id of ['..', '.', '/etc', 'a/../../b']) expect(path.relative(root, g.folderOf(req(id, 1))).startsWith('..')).toBe(false);
});

test('missing folders and images are one-line GeneratorErrors', async () => {
  const g = new FolderGenerator(dir);
  await expect(g.generate(req('nope', 2))).rejects.toThrow(/no folder .*nope for prompt "nope"/);
  fs.mkdirSync(path.join(dir, 'empty'));
  await expect(g.generate(req('empty', 2))).rejects.toThrow(GeneratorError);
  await expect(g.generate(req('empty', 2))).rejects.toThrow(/no <k>\.png\/\.jpg\/\.webp images/);
  expect(() => new FolderGenerator(path.join(dir, 'absent'))).toThrow(/folder:.*absent: no such folder/);
  await expect(openGenerator('warp:9')).rejects.toThrow(/unknown kind "warp" \(one of folder:DIR, a1111:URL, comfyui:URL/);
  await expect(openGenerator('folder')).rejects.toThrow(/expected folder:DIR/);
});
