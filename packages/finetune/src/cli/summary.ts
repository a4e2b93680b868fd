import * as fs from 'fs';
import * as path from 'path';
import { formatDuration } from '@richhf/reward/util';
import type { BuildSummary } from '../builder';

/** The lines `finetune build` and `finetune collect` print when they finish: counts, rates, where things are. */
export function summaryLines(s: BuildSummary): string[] {
  const pct = (v: number) => `${(100 * v).toFixed(1)} %`;
  const st = s.stats;
  const lines = [
    `${s.processed} prompts built now (${s.skipped} done before, ${s.remaining} left of ${s.prompts}): ${s.candidates} candidates in ${formatDuration(s.seconds)} (${s.imagesPerSecond.toFixed(2)} images/s)`,
    `whole run: ${st.prompts} prompts, ${st.accepted} samples accepted from ${st.promptsAccepted} prompts (accept rate ${pct(st.acceptRate)}; ${pct(st.sampleAcceptRate)} of candidates), ${st.pairs} pairs`,
  ];
  if (st.selection.best.n) lines.push(`best selection score per prompt: mean ${st.selection.best.mean.toFixed(3)}, range ${st.selection.best.min.toFixed(3)}–${st.selection.best.max.toFixed(3)}`);
  const wds = path.join(s.out, 'webdataset');
  if (fs.existsSync(wds)) {
    const n = fs.readdirSync(wds).filter((f) => f.endsWith('.tar')).length;
    if (n) lines.push(`webdataset: ${path.join(wds, `{000000..${String(n - 1).padStart(6, '0')}}.tar`)}`);
  }
  const meta = path.join(s.out, 'imagefolder', 'train', 'metadata.jsonl');
  if (fs.existsSync(meta)) lines.push(`imagefolder: ${path.join(s.out, 'imagefolder')} (load_dataset("imagefolder", data_dir=…))`);
  const dpo = path.join(s.out, 'dpo');
  if (fs.existsSync(dpo)) lines.push(`dpo: ${fs.readdirSync(dpo).filter((f) => f.endsWith('.parquet')).length} parquet files in ${dpo}`);
  lines.push(`statistics: ${path.join(s.out, 'stats.json')}, ${path.join(s.out, 'prompts.jsonl')}`);
  return lines;
}
