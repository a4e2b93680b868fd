import * as fs from 'fs';
import * as path from 'path';
import { writeFileAtomic } from '@richhf/reward/util';
import { scoreChartPng } from './chart';
import { Journal } from './journal';
import { promptStats, RunStats, StatsAccumulator } from './stats';

export interface ReportFiles {
  stats: RunStats;
  /** Files written under --out. */
  files: string[];
}

/**
 * The run's statistics from its journal (so they cover every resumed part): `stats.json` (global figures and
 * histograms), `prompts.jsonl` (one line per prompt) and `scores.png` (the histograms drawn), each replaced
 * whole. Read in one pass, in constant memory.
 */
export async function writeReport(out: string, opts: { log?: (line: string) => void; chart?: boolean } = {}): Promise<ReportFiles> {
  const acc = new StatsAccumulator();
  const promptsFile = path.join(out, 'prompts.jsonl');
  const tmp = `${promptsFile}.tmp-${process.pid}`;
  const ws = fs.createWriteStream(tmp);
  try {
    for await (const r of Journal.records(out)) {
      for (const p of r.prompts) {
        acc.add(p);
        if (!ws.write(JSON.stringify(promptStats(p)) + '\n')) await new Promise<void>((res) => ws.once('drain', () => res()));
      }
    }
    await new Promise<void>((res, rej) => ws.end((e?: Error | null) => (e ? rej(e) : res())));
    fs.renameSync(tmp, promptsFile);
  } catch (e) {
    ws.destroy();
    fs.rmSync(tmp, { force: true });
    throw e;
  }
  const stats = acc.result();
  writeFileAtomic(path.join(out, 'stats.json'), JSON.stringify(stats, null, 1) + '\n');
  const files = ['stats.json', 'prompts.jsonl'];
  if ((opts.chart ?? true) && stats.candidates > 0) {
    try {
      writeFileAtomic(path.join(out, 'scores.png'), await scoreChartPng(stats));
      files.push('scores.png');
    } catch (e) {
      // The datasets and figures are written; a chart that cannot be drawn is worth a line, not a failed run.
      (opts.log ?? ((l: string) => process.stderr.write(l + '\n')))(`scores.png not written: ${(e as Error).message.split('\n')[0]}`);
    }
  }
  return { stats, files };
}
