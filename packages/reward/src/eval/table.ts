/**
 * Output of `rahf eval`: the RichHF paper's Tables 1–4 as aligned text, and the JSON document.
 *
 * JSON shape (numbers at full precision; null where a metric is undefined — no samples to average, e.g.
 * MSE over empty ground truths when no map is empty, or a correlation of fewer than two samples):
 *   {"scores": {"plausibility": {"plcc", "srcc"}, "alignment", "aesthetics", "overall"},
 *    "heatmaps": {"implausibility": {"mse_all", "mse_empty", "cc", "kld", "sim", "nss", "auc_judd"}, "misalignment"},
 *    "keywords": {"precision", "recall", "f1"},
 *    "baselines": {"constant": {"scores", "heatmaps", "keywords"}, "clip": {"scores": {"alignment"}}},
 *    "n": <samples evaluated>}
 * `baselines.clip` is present only with --clip and holds only the alignment score it predicts.
 */
import { HEATMAP_NAMES, HeatmapName, SCORE_NAMES, ScoreName } from '../rahf/config';
import type { HeatmapSummary, MethodResult } from './evaluate';

export interface EvalReport {
  /** Samples evaluated. */
  n: number;
  /** The TFRecord evaluated. */
  records: string;
  /** The checkpoint evaluated. */
  checkpoint: string;
  model: MethodResult;
  baselines: { constant: MethodResult; clip?: MethodResult };
  /** What the constant baseline's means were taken over. */
  constant: { source: string; count: number; fromEvalSet: boolean };
  /** The CLIP checkpoint, when the CLIP baseline ran. */
  clip?: string;
  totalRecords: number;
  missingImages: string[];
  missingCaptions: string[];
}

type Num = number | null;
const num = (v: number | undefined): Num => (v === undefined || !Number.isFinite(v) ? null : v);

export interface ScoreJson {
  plcc: Num;
  srcc: Num;
}
export interface HeatmapJson {
  mse_all: Num;
  mse_empty: Num;
  cc: Num;
  kld: Num;
  sim: Num;
  nss: Num;
  auc_judd: Num;
}
export interface MethodJson {
  scores?: Partial<Record<ScoreName, ScoreJson>>;
  heatmaps?: Partial<Record<HeatmapName, HeatmapJson>>;
  keywords?: { precision: Num; recall: Num; f1: Num };
}
export interface EvalJson extends MethodJson {
  baselines: { constant: MethodJson; clip?: MethodJson };
  n: number;
}

const HEATMAP_KEYS = ['mse_all', 'mse_empty', 'cc', 'kld', 'sim', 'nss', 'auc_judd'] as const;

/** A method's metrics in the JSON shape; outputs the method does not predict are left out. */
export function methodJson(r: MethodResult): MethodJson {
  const out: MethodJson = {};
  const scores = SCORE_NAMES.filter((s) => r.scores[s]);
  if (scores.length > 0) {
    out.scores = {};
    for (const s of scores) out.scores[s] = { plcc: num(r.scores[s]!.plcc), srcc: num(r.scores[s]!.srcc) };
  }
  const maps = HEATMAP_NAMES.filter((h) => r.heatmaps[h]);
  if (maps.length > 0) {
    out.heatmaps = {};
    for (const h of maps) {
      const m = r.heatmaps[h]!;
      out.heatmaps[h] = Object.fromEntries(HEATMAP_KEYS.map((k) => [k, num(m[k])])) as unknown as HeatmapJson;
    }
  }
  if (r.keywords) out.keywords = { precision: num(r.keywords.precision), recall: num(r.keywords.recall), f1: num(r.keywords.f1) };
  return out;
}

/** The `--json` document. */
export function reportJson(r: EvalReport): EvalJson {
  const baselines: EvalJson['baselines'] = { constant: methodJson(r.baselines.constant) };
  if (r.baselines.clip) baselines.clip = methodJson(r.baselines.clip);
  return { ...methodJson(r.model), baselines, n: r.n };
}

/** True when some metric of the JSON is null. */
export function hasNull(v: unknown): boolean {
  if (v === null) return true;
  if (typeof v === 'object') return Object.values(v as object).some(hasNull);
  return false;
}

// ---------------------------------------------------------------------------------------------------
// Text tables

const DASH = '—';

function fmt(v: number | undefined, digits: number): string {
  return v === undefined || !Number.isFinite(v) ? DASH : v.toFixed(digits);
}

/** Aligns rows of cells: the first column left-aligned, the others right-aligned; `groups` adds a spanning header line. */
function render(header: string[], rows: string[][], groups?: Array<{ label: string; span: number }>): string[] {
  const widths = header.map((h, c) => Math.max(h.length, ...rows.map((r) => r[c].length)));
  const gap = '  ';
  if (groups) {
    // Widen the columns under a group label that is wider than they are.
    let c = 1;
    for (const g of groups) {
      const inner = widths.slice(c, c + g.span).reduce((a, b) => a + b, 0) + gap.length * (g.span - 1);
      // Spread the extra width over the group's columns so they stay evenly spaced.
      for (let k = 0, extra = g.label.length - inner; k < g.span && extra > 0; k++) {
        const add = Math.ceil(extra / (g.span - k));
        widths[c + k] += add;
        extra -= add;
      }
      c += g.span;
    }
  }
  const line = (cells: string[]) => cells.map((s, c) => (c === 0 ? s.padEnd(widths[c]) : s.padStart(widths[c]))).join(gap).trimEnd();
  const out: string[] = [];
  if (groups) {
    let s = ' '.repeat(widths[0]);
    let c = 1;
    for (const g of groups) {
      const inner = widths.slice(c, c + g.span).reduce((a, b) => a + b, 0) + gap.length * (g.span - 1);
      const left = Math.floor((inner - g.label.length) / 2);
      s += gap + (' '.repeat(left) + g.label).padEnd(inner);
      c += g.span;
    }
    out.push(s.trimEnd());
  }
  out.push(line(header));
  out.push(widths.map((w) => '-'.repeat(w)).join(gap));
  for (const r of rows) out.push(line(r));
  return out;
}

const SCORE_TITLES: Record<ScoreName, string> = {
  plausibility: 'Plausibility',
  alignment: 'Alignment',
  aesthetics: 'Aesthetics',
  overall: 'Overall',
};

interface Row {
  label: string;
  r: MethodResult;
}

function methodRows(rep: EvalReport): Row[] {
  const rows: Row[] = [
    { label: 'RAHF (this checkpoint)', r: rep.model },
    { label: rep.constant.fromEvalSet ? 'Constant (eval-set mean)' : 'Constant (train mean)', r: rep.baselines.constant },
  ];
  if (rep.baselines.clip) rows.push({ label: 'CLIP cosine', r: rep.baselines.clip });
  return rows;
}

function heatmapTable(rep: EvalReport, h: HeatmapName, title: string): string[] {
  const rows = methodRows(rep).filter((m) => m.r.heatmaps[h]);
  const counts = rows[0]?.r.heatmaps[h]?.counts;
  const what = counts ? ` (${counts.all} samples: ${counts.nonEmpty} with regions, ${counts.empty} empty)` : '';
  const cells = (m: HeatmapSummary | undefined) => [
    fmt(m?.mse_all, 4),
    fmt(m?.mse_empty, 4),
    fmt(m?.cc, 3),
    fmt(m?.kld, 3),
    fmt(m?.sim, 3),
    fmt(m?.nss, 3),
    fmt(m?.auc_judd, 3),
  ];
  return [
    `${title}${what}`,
    ...render(
      ['Method', 'MSE all ↓', 'MSE empty ↓', 'CC ↑', 'KLD ↓', 'SIM ↑', 'NSS ↑', 'AUC-Judd ↑'],
      rows.map((m) => [m.label, ...cells(m.r.heatmaps[h])]),
    ),
  ];
}

/** Notes explaining the run (data used, skipped records, conventions behind 0 and — entries). */
export function reportNotes(rep: EvalReport): string[] {
  const notes: string[] = [];
  const skipped = rep.missingImages.length + rep.missingCaptions.length;
  if (rep.missingImages.length > 0) {
    const first = rep.missingImages.slice(0, 3).join(', ');
    notes.push(`${rep.missingImages.length} of ${rep.totalRecords} records have no image and were skipped (${first}${rep.missingImages.length > 3 ? ', …' : ''}).`);
  }
  if (rep.missingCaptions.length > 0) {
    notes.push(`${rep.missingCaptions.length} of ${rep.totalRecords} records have no prompt and were skipped.`);
  }
  if (skipped === 0 && rep.n < rep.totalRecords) notes.push(`Evaluated the first ${rep.n} of ${rep.totalRecords} records (--limit).`);
  if (rep.constant.fromEvalSet) {
    notes.push(
      `No train split available (no train.tfrecord beside the data, no --train): the constant baseline uses the means of the ` +
        `${rep.constant.count} evaluated samples themselves, which flatters its MSE.`,
    );
  } else {
    notes.push(`Constant baseline: means of ${rep.constant.count} train samples (${rep.constant.source}); heatmaps: pixel-wise mean map; keywords: none predicted.`);
  }
  const flagged = [rep.model, rep.baselines.constant, rep.baselines.clip].some((r) => r && Object.values(r.scores).some((s) => s?.constant));
  if (flagged) notes.push('A constant prediction has no correlation with anything: its PLCC/SRCC are reported as 0 (scipy gives nan).');
  if (hasNull(reportJson(rep))) {
    notes.push(`${DASH} = undefined (no samples to average, e.g. MSE empty with no empty ground-truth map); null in the JSON.`);
  }
  return notes;
}

/** The four tables as text (each line without a trailing newline). */
export function formatTables(rep: EvalReport): string {
  const rows = methodRows(rep);
  const out: string[] = [];
  out.push(`RAHF evaluation of ${rep.checkpoint} on ${rep.n} samples of ${rep.records}`);
  out.push('');
  out.push('Table 1. Score prediction (PLCC / SRCC, higher is better)');
  out.push(
    ...render(
      ['Method', ...SCORE_NAMES.flatMap(() => ['PLCC', 'SRCC'])],
      rows.map((m) => [m.label, ...SCORE_NAMES.flatMap((s) => [fmt(m.r.scores[s]?.plcc, 3), fmt(m.r.scores[s]?.srcc, 3)])]),
      SCORE_NAMES.map((s) => ({ label: SCORE_TITLES[s], span: 2 })),
    ),
  );
  out.push('');
  out.push(...heatmapTable(rep, 'implausibility', 'Table 2. Implausibility heatmap'));
  out.push('');
  out.push(...heatmapTable(rep, 'misalignment', 'Table 3. Misalignment heatmap'));
  out.push('');
  const kwRows = rows.filter((m) => m.r.keywords);
  const gtWords = rep.model.keywords ? rep.model.keywords.tp + rep.model.keywords.fn : undefined;
  out.push(`Table 4. Misaligned keywords${gtWords !== undefined ? ` (${gtWords} ground-truth misaligned words)` : ''}`);
  out.push(
    ...render(
      ['Method', 'Precision', 'Recall', 'F1'],
      kwRows.map((m) => [m.label, fmt(m.r.keywords!.precision, 3), fmt(m.r.keywords!.recall, 3), fmt(m.r.keywords!.f1, 3)]),
    ),
  );
  const notes = reportNotes(rep);
  if (notes.length > 0) {
    out.push('');
    out.push('Notes:');
    for (const n of notes) out.push(`- ${n}`);
  }
  return out.join('\n');
}
