import * as fs from 'fs';
import * as path from 'path';
import { initBackend } from '../backend';
import { caseDirs } from './fixtures';
import { checkVitCase } from './vit-case';
import { checkT5Case } from './t5-case';
import { checkClipCase } from './clip-case';

// Every models/<case> is run by its config's model_type; a new case directory needs no code change.
const checkers: Record<string, (dir: string) => Promise<void>> = {
  vit: checkVitCase,
  t5: checkT5Case,
  clip: checkClipCase,
};

beforeAll(async () => {
  await initBackend();
});

const cases = caseDirs('models');

test('parity fixtures contain model cases', () => {
  expect(cases.length).toBeGreaterThan(0);
});

for (const dir of cases) {
  const type = JSON.parse(fs.readFileSync(path.join(dir, 'config.json'), 'utf8')).model_type as string;
  test(`models/${path.basename(dir)} (${type})`, async () => {
    const check = checkers[type];
    if (!check) throw new Error(`no parity checker for model_type "${type}"`);
    await check(dir);
  });
}
