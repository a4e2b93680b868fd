#!/usr/bin/env node
import * as os from 'os';
import yargs from 'yargs';
import { hideBin } from 'yargs/helpers';
import { benchBestOfN } from './bestofn';
import { benchSynthGenerator } from './synth-generator';

// The finetune package's figures for `pnpm bench` (a benchmark, never a test): best-of-N throughput and memory
// (bestofn.ts) and the scene generator's sampling rate (synth-generator.ts). One JSON object on stdout (both
// modules' keys; one load-average pair for the whole run), progress on stderr.

async function main(): Promise<void> {
  const argv = await yargs(hideBin(process.argv))
    .option('runs', { type: 'number', describe: 'timed runs per figure (defaults: best-of-N 6, scene generator 3)' })
    .option('skip-preset', { type: 'boolean', default: false, describe: 'skip the paper-preset (412 M parameters) best-of-N figures' })
    .option('skip-memory', { type: 'boolean', default: false, describe: 'skip the 2 000-candidate peak-RSS run' })
    .option('skip-bestofn', { type: 'boolean', default: false, describe: 'skip every best-of-N figure' })
    .option('skip-synth', { type: 'boolean', default: false, describe: 'skip the scene-generator figures' })
    .option('export-dir', { type: 'string', describe: 'reuse (or keep) the paper-preset int8 export here' })
    .option('json', { type: 'boolean', default: true, describe: 'print the figures as one JSON object (--no-json: key value lines)' })
    .strict()
    .parseAsync();
  const log = (s: string) => process.stderr.write(s + '\n');
  const out: Record<string, number> = { load_avg_1m_start: os.loadavg()[0] };
  const merge = (r: Record<string, number>) => {
    for (const [k, v] of Object.entries(r)) if (!k.startsWith('load_avg_')) out[k] = v;
  };
  if (!argv['skip-bestofn']) merge(await benchBestOfN({ runs: argv.runs, skipPreset: argv['skip-preset'], skipMemory: argv['skip-memory'], exportDir: argv['export-dir'], log }));
  if (!argv['skip-synth']) merge(await benchSynthGenerator({ runs: argv.runs === undefined ? undefined : Math.max(3, argv.runs), log }));
  out.load_avg_1m_end = os.loadavg()[0];
  process.stdout.write(argv.json ? JSON.stringify(out, null, 1) + '\n' : Object.entries(out).map(([k, v]) => `${k} ${v}`).join('\n') + '\n');
}

void main().catch((e: unknown) => {
  process.stderr.write(`finetune bench: ${(e as Error).stack ?? e}\n`);
  process.exitCode = 1;
});
