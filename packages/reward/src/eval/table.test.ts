import type { MethodResult } from './evaluate';
import { EvalReport, formatTables, hasNull, reportJson, reportNotes } from './table';

const heat = (v: number) => ({ mse_all: v, mse_empty: NaN, cc: v, kld: v, sim: v, nss: v, auc_judd: v, counts: { all: 4, empty: 0, nonEmpty: 4 } });
const full = (v: number, constant = false): MethodResult => ({
  scores: {
    plausibility: { plcc: v, srcc: v, constant },
    alignment: { plcc: v, srcc: v, constant },
    aesthetics: { plcc: v, srcc: v, constant },
    overall: { plcc: v, srcc: v, constant },
  },
  heatmaps: { implausibility: heat(v), misalignment: heat(v) },
  keywords: { precision: v, recall: v, f1: v, tp: 3, fp: 1, fn: 2 },
});

function report(over: Partial<EvalReport> = {}): EvalReport {
  return {
    n: 4,
    records: 'D/test.tfrecord',
    checkpoint: 'ckpt',
    model: full(0.75),
    baselines: { constant: full(0, true), clip: { scores: { alignment: { plcc: 0.25, srcc: -0.5, constant: false } }, heatmaps: {} } },
    constant: { source: 'D/train.tfrecord', count: 32, fromEvalSet: false },
    totalRecords: 4,
    missingImages: [],
    missingCaptions: [],
    ...over,
  };
}

test('reportJson: the documented shape, NaN as null, CLIP with alignment only', () => {
  const j = reportJson(report());
  expect(Object.keys(j)).toEqual(['scores', 'heatmaps', 'keywords', 'baselines', 'n']);
  expect(j.scores!.overall).toEqual({ plcc: 0.75, srcc: 0.75 });
  expect(j.heatmaps!.misalignment).toEqual({ mse_all: 0.75, mse_empty: null, cc: 0.75, kld: 0.75, sim: 0.75, nss: 0.75, auc_judd: 0.75 });
  expect(j.keywords).toEqual({ precision: 0.75, recall: 0.75, f1: 0.75 });
  expect(j.baselines.clip).toEqual({ scores: { alignment: { plcc: 0.25, srcc: -0.5 } } });
  expect(j.n).toBe(4);
  expect(hasNull(j)).toBe(true);
  expect(JSON.stringify(j)).not.toMatch(/NaN/);
  const noClip = reportJson(report({ baselines: { constant: full(0, true) } }));
  expect(Object.keys(noClip.baselines)).toEqual(['constant']);
});

test('formatTables: four aligned tables, — for undefined cells, notes explaining them', () => {
  const text = formatTables(report());
  const lines = text.split('\n');
  const t1 = lines.findIndex((l) => l.startsWith('Table 1.'));
  expect(lines[t1 + 1]).toMatch(/^\s+Plausibility\s+Alignment\s+Aesthetics\s+Overall$/);
  expect(lines[t1 + 2]).toMatch(/^Method\s+PLCC\s+SRCC\s+PLCC\s+SRCC\s+PLCC\s+SRCC\s+PLCC\s+SRCC$/);
  const rows = lines.slice(t1 + 4, t1 + 7);
  expect(rows[0]).toMatch(/^RAHF \(this checkpoint\)(\s+0\.750){8}$/);
  expect(rows[1]).toMatch(/^Constant \(train mean\)(\s+0\.000){8}$/);
  expect(rows[2]).toMatch(/^CLIP cosine\s+—\s+—\s+0\.250\s+-0\.500(\s+—){4}$/);
  // Right-aligned numbers: each row ends where the header does.
  for (const r of rows) expect(r.length).toBe(lines[t1 + 2].length);
  expect(text).toMatch(/Table 2\. Implausibility heatmap \(4 samples: 4 with regions, 0 empty\)/);
  expect(text).toMatch(/RAHF \(this checkpoint\)\s+0\.7500\s+—\s+0\.750/);
  expect(text).toMatch(/Table 4\. Misaligned keywords \(5 ground-truth misaligned words\)/);
  expect(text).not.toMatch(/CLIP cosine\s+\d.*\n.*Table 3/); // CLIP has no heatmap rows
  expect(text).toMatch(/— = undefined .*null in the JSON/);
  expect(text).toMatch(/reported as 0 \(scipy gives nan\)/);
  expect(text).toMatch(/Constant baseline: means of 32 train samples \(D\/train\.tfrecord\)/);
});

test('reportNotes: skipped records and the eval-set fallback are stated', () => {
  const notes = reportNotes(
    report({
      totalRecords: 9,
      missingImages: ['u1', 'u2', 'u3', 'u4'],
      missingCaptions: ['u5'],
      constant: { source: 'D/test.tfrecord', count: 4, fromEvalSet: true },
    }),
  ).join('\n');
  expect(notes).toMatch(/4 of 9 records have no image and were skipped \(u1, u2, u3, …\)/);
  expect(notes).toMatch(/1 of 9 records have no prompt/);
  expect(notes).toMatch(/No train split available.*means of the 4 evaluated samples themselves/);
  expect(formatTables(report({ constant: { source: 'x', count: 4, fromEvalSet: true } }))).toMatch(/Constant \(eval-set mean\)/);
  expect(reportNotes(report({ n: 2, totalRecords: 4 })).join('\n')).toMatch(/first 2 of 4 records \(--limit\)/);
});
