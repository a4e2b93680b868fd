#!/usr/bin/env node
import yargs from 'yargs';
import { hideBin } from 'yargs/helpers';
import { benchDecodeGrad } from './decode-grad';
import { benchGuidedStep } from './guided-step';
import { benchSdStep } from './sd-step';

// The guidance package's figures for `pnpm bench` (a benchmark, never a test): decoder + latent gradient
// (decode-grad.ts), the sampling pipeline's own cost per step (sd-step.ts) and one reward-guided step
// (guided-step.ts: guided_step_tiny_s, guided_step_ratio, and — unless --skip-paper — guided_step_paper_s with its
// memory above the unguided state). One JSON object on stdout with
// --json, progress on stderr.

async function main(): Promise<void> {
  const argv = await yargs(hideBin(process.argv))
    .option('runs', { type: 'number', default: 5, describe: 'timed runs per figure (after one warm-up)' })
    .option('threads', { type: 'number', describe: 'onnxruntime intra-op threads (default: the number of CPUs)' })
    .option('skip-decode', { type: 'boolean', default: false, describe: 'skip the TAESD decode + gradient figures' })
    .option('skip-sd', { type: 'boolean', default: false, describe: 'skip the sd_tiny pipeline step figures' })
    .option('skip-guided', { type: 'boolean', default: false, describe: 'skip the guided-step figures' })
    .option('skip-paper', { type: 'boolean', default: false, describe: 'skip the paper-preset guided step (GBs while its gradient graph is built)' })
    .option('paper-checkpoint', { type: 'string', describe: 'a paper checkpoint (`rahf init --preset paper --out DIR`; default: the preset with random weights, in memory)' })
    .option('json', { type: 'boolean', default: false, describe: 'print the figures as one JSON object on stdout' })
    .strict()
    .parseAsync();
  const log = (s: string) => process.stderr.write(s + '\n');
  const out: Record<string, number> = {};
  if (!argv['skip-decode']) Object.assign(out, await benchDecodeGrad({ runs: Math.max(3, argv.runs), threads: argv.threads, log }));
  if (!argv['skip-sd']) Object.assign(out, await benchSdStep({ runs: Math.max(3, argv.runs), threads: argv.threads, log }));
  if (!argv['skip-guided']) Object.assign(out, await benchGuidedStep({ runs: Math.max(3, argv.runs), threads: argv.threads, skipPaper: argv['skip-paper'], paperCheckpoint: argv['paper-checkpoint'], log }));
  process.stdout.write(argv.json ? JSON.stringify(out) + '\n' : Object.entries(out).map(([k, v]) => `${k} ${v}`).join('\n') + '\n');
}

void main().catch((e: unknown) => {
  process.stderr.write(`guidance bench: ${(e as Error).stack ?? e}\n`);
  process.exitCode = 1;
});
