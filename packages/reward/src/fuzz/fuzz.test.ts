import * as fs from 'fs';
import { initBackend } from '../backend';
import { CaseResult, runCase, scratchRoot, TARGETS } from './run-case';

// Fixed seeds, a few hundred cases per parser (`pnpm fuzz` runs ≥ 10 000 each in child processes with
// time and memory bounds). Every case must end accepted (consistent, and equal to the valid input for
// checksummed formats) or refused with the package's one-line UserError naming the file.
const CASES = Number(process.env.RAHF_FUZZ_CASES ?? 200);
const SEED = 20_261_207;

let root: string;
beforeAll(async () => {
  await initBackend('cpu');
  root = scratchRoot();
});
afterAll(() => fs.rmSync(root, { recursive: true, force: true }));

describe.each(TARGETS.map((t) => [t.name, t] as const))('fuzz %s', (_name, target) => {
  test(`${CASES} seeded cases end accepted or refused with a UserError naming the file, each within 5 s`, async () => {
    const bad: CaseResult[] = [];
    const counts: Record<string, number> = {};
    for (let i = 0; i < CASES; i++) {
      const r = await runCase(target, SEED + i, root);
      counts[r.verdict] = (counts[r.verdict] ?? 0) + 1;
      if ((r.verdict !== 'accepted' && r.verdict !== 'refused') || r.ms > 5000) bad.push(r);
    }
    expect(bad.slice(0, 5)).toEqual([]);
    // The generators must make valid inputs and the mutations must reach the checks.
    expect(counts.accepted ?? 0).toBeGreaterThan(CASES / 20);
    expect(counts.refused ?? 0).toBeGreaterThan(CASES / 10);
  });
});
