import * as fs from 'fs';
import * as path from 'path';
import { plcc, rocAuc, srcc } from '../metrics';
import { parityDir } from './fixtures';

// <parity>/metrics/cases.json holds reference values from scipy / sklearn:
//   correlation: [{pred, gt, plcc?, srcc?}]   scipy.stats.pearsonr / spearmanr statistics
//   auc:         {scores, labels, roc_auc} or a list of them   sklearn.metrics.roc_auc_score
// Every case in the file becomes a test; a group without a check here fails rather than being skipped.
// An expected null/NaN (scipy's answer for constant input) must come back as NaN from the raw functions.

const TOL = 1e-9;
const file = path.join(parityDir(), 'metrics', 'cases.json');

type Expected = number | null | undefined;
interface CorrelationCase {
  pred: number[];
  gt: number[];
  plcc?: number | null;
  srcc?: number | null;
}
interface AucCase {
  scores: number[];
  labels: number[];
  roc_auc: number | null;
}

// Python's json writes bare NaN for scipy's nan; JSON.parse does not accept it.
const cases = JSON.parse(fs.readFileSync(file, 'utf8').replace(/\bNaN\b/g, 'null')) as Record<string, unknown>;
const asList = <T>(v: unknown): T[] => (Array.isArray(v) ? (v as T[]) : [v as T]);

let worst = 0;
afterAll(() => console.log(`metrics parity: max |error| ${worst.toExponential(2)} (tolerance ${TOL})`));

function expectValue(name: string, actual: number, expected: Expected): void {
  if (expected === null || (typeof expected === 'number' && Number.isNaN(expected))) {
    expect(actual).toBeNaN();
    return;
  }
  if (typeof expected !== 'number') throw new Error(`metrics/cases.json: ${name} has no expected number`);
  const err = Math.abs(actual - expected);
  worst = Math.max(worst, err);
  if (!(err <= TOL)) throw new Error(`${name}: got ${actual}, want ${expected} (|err| ${err.toExponential(2)} > ${TOL})`);
}

const checks: Record<string, () => void> = {
  correlation: () => {
    asList<CorrelationCase>(cases.correlation).forEach((c, i) => {
      const name = `correlation #${i} (n=${c.pred.length})`;
      const keys = (['plcc', 'srcc'] as const).filter((k) => k in c);
      test(`${name} has an expected statistic`, () => expect(keys.length).toBeGreaterThan(0));
      if ('plcc' in c) test(`${name}: plcc = scipy pearsonr ${c.plcc ?? "NaN"}`, () => expectValue(`${name} plcc`, plcc(c.pred, c.gt), c.plcc));
      if ('srcc' in c) test(`${name}: srcc = scipy spearmanr ${c.srcc ?? "NaN"}`, () => expectValue(`${name} srcc`, srcc(c.pred, c.gt), c.srcc));
    });
  },
  auc: () => {
    asList<AucCase>(cases.auc).forEach((c, i) => {
      const name = `auc #${i} (n=${c.scores.length}, ${c.labels.filter((l) => l).length} positive)`;
      test(`${name}: rocAuc = sklearn roc_auc_score ${c.roc_auc ?? "NaN"}`, () => expectValue(`${name} roc_auc`, rocAuc(c.scores, c.labels), c.roc_auc));
    });
  },
};

test('metrics/cases.json has cases', () => {
  expect(Object.keys(cases).length).toBeGreaterThan(0);
});

for (const group of Object.keys(cases)) {
  const check = checks[group];
  if (check) check();
  else test(`metrics/cases.json group "${group}" has a check`, () => {
    throw new Error(`metrics.parity.test.ts: no check for group "${group}" in ${file}`);
  });
}
