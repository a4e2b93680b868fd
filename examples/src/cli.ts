#!/usr/bin/env node
/**
 * `pnpm notebooks [files…]`: run tslab notebooks headless (every examples/*.ipynb by default), each in
 * its own process, and fail on any cell error. `--out DIR` keeps the executed copies, with their
 * outputs (pictures included), to open in Jupyter or VS Code; `--clear` strips outputs before a commit.
 */
import { spawn } from 'child_process';
import * as fs from 'fs';
import * as path from 'path';
import yargs from 'yargs';
import { formatError, UserError } from '@richhf/reward';
import { formatDuration, Progress, writeFileAtomic } from '@richhf/reward/util';
import { clearOutputs, formatNotebook, readNotebook } from './notebook';
import { runNotebook } from './run-notebook';

/** The examples folder: this package's root (dist/cli.js lives one level below it). */
export const EXAMPLES_DIR = path.resolve(__dirname, '..');

/** Every notebook directly in `dir`, sorted. */
export function findNotebooks(dir = EXAMPLES_DIR): string[] {
  return fs
    .readdirSync(dir)
    .filter((f) => f.endsWith('.ipynb'))
    .sort()
    .map((f) => path.join(dir, f));
}

/** Child: run one notebook in this process; exit code 0 when every cell ran. */
async function runOne(file: string, out: string | undefined): Promise<number> {
  const name = path.basename(file);
  const nb = readNotebook(file);
  const codeCells = nb.cells.filter((c) => c.cell_type === 'code').length;
  const progress = new Progress(codeCells, name, { unit: 'cell' });
  const run = await runNotebook(file, nb, { onCell: (r) => progress.tick(1, `cell ${r.cell} ${r.ok ? 'ok' : 'FAILED'} ${r.seconds.toFixed(1)}s`) });
  if (out) writeFileAtomic(path.join(out, name), formatNotebook(run.executed));
  if (run.failed) {
    process.stderr.write(`${name}: cell ${run.failed.cell} failed: ${run.failed.error}\n`);
    for (const l of run.failed.stderr.trimEnd().split('\n').slice(0, 40)) process.stderr.write(`  ${l}\n`);
    return 1;
  }
  process.stdout.write(`${name}: ${codeCells} code cells ran in ${formatDuration(run.seconds)}\n`);
  return 0;
}

/** Parent: one child process per notebook, with a time limit each; returns how many failed. */
async function runAll(files: string[], out: string | undefined, timeoutS: number, verbose: boolean): Promise<number> {
  let failed = 0;
  for (const file of files) {
    const args = [__filename, '--child', file, ...(out ? ['--out', out] : []), ...(verbose ? ['--verbose'] : [])];
    const code = await new Promise<number | null>((resolve) => {
      const child = spawn(process.execPath, args, { stdio: 'inherit' });
      const timer = setTimeout(() => {
        process.stderr.write(`${path.basename(file)}: still running after ${timeoutS}s, stopped\n`);
        child.kill('SIGKILL');
      }, timeoutS * 1000);
      child.on('exit', (c) => {
        clearTimeout(timer);
        resolve(c);
      });
    });
    if (code !== 0) failed++;
  }
  process.stdout.write(`notebooks: ${files.length - failed} passed, ${failed} failed\n`);
  return failed;
}

export async function main(argv = process.argv.slice(2)): Promise<void> {
  const args = await yargs(argv)
    .scriptName('run-notebooks')
    .command('$0 [notebooks..]', 'Run tslab notebooks headless (default: every examples/*.ipynb); fail on any cell error.', (y) =>
      y.positional('notebooks', { type: 'string', array: true, describe: '.ipynb files' }),
    )
    .option('out', { type: 'string', describe: 'write the executed notebooks, with outputs, to this folder' })
    .option('timeout', { type: 'number', default: 600, describe: 'seconds each notebook may take' })
    .option('clear', { type: 'boolean', default: false, describe: 'remove outputs from the notebooks in place instead of running them (before committing)' })
    .option('child', { type: 'boolean', hidden: true })
    .option('verbose', { type: 'boolean', default: false, describe: 'stack traces for errors of the runner itself' })
    .strict()
    .help()
    .parse();
  const given = (args.notebooks as string[] | undefined) ?? [];
  const files = (given.length > 0 ? given : findNotebooks()).map((f) => path.resolve(f));
  try {
    if (!(args.timeout > 0)) throw new UserError(`--timeout must be a positive number of seconds, got ${args.timeout}`);
    if (files.length === 0) throw new UserError(`no notebooks given and none in ${EXAMPLES_DIR}`);
    for (const f of files) if (!fs.existsSync(f)) throw new UserError(`${f}: no such notebook`);
    const out = args.out ? path.resolve(args.out) : undefined;
    if (args.clear) {
      for (const f of files) writeFileAtomic(f, formatNotebook(clearOutputs(readNotebook(f))));
      process.stdout.write(`cleared the outputs of ${files.length} notebook(s)\n`);
      return;
    }
    if (args.child) {
      const code = await runOne(files[0], out);
      // A notebook may leave handles open (timers, worker threads), as a kernel would until shut down:
      // end the process once its report is flushed.
      process.stdout.write('', () => process.exit(code));
      return;
    }
    process.exitCode = (await runAll(files, out, args.timeout, args.verbose)) > 0 ? 1 : 0;
  } catch (e) {
    process.stderr.write(formatError(e, args.verbose, 'run-notebooks') + '\n');
    process.exitCode = e instanceof UserError ? e.exitCode : 1;
    if (args.child) process.stderr.write('', () => process.exit(Number(process.exitCode)));
  }
}

if (require.main === module) void main();
