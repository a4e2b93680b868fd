#!/usr/bin/env node
import { ChildProcess, fork } from 'child_process';
import * as fs from 'fs';
import * as path from 'path';
import yargs from 'yargs';
import { hideBin } from 'yargs/helpers';
import { formatError } from '../errors';
import { Progress, formatDuration } from '../util/progress';
import { CaseResult, TARGETS, targetByName } from './run-case';
import { runReproducers } from './reproducers';

/*
 * `pnpm fuzz`: property-based fuzzing of every parser of the package (run-case.ts has the property),
 * ≥ 10 000 cases each, in child processes so that what no try/catch can stop is still caught and blamed
 * on one case: a hang (the case outlives --time-limit: the child is killed), an abort (the child dies of a
 * signal or V8's out-of-memory), a case whose peak RSS passes --memory-limit (polled, and the kernel's
 * per-case VmHWM). A killed child is restarted after the seed that killed it. Then the issue-27
 * reproducers run through the `rahf` CLI (reproducers.ts). Prints a table per parser; any failure makes
 * the exit code 1 and is written to --failures as a regression case (target and seed), with notes on
 * cases that were run again.
 */

interface Stats {
  target: string;
  cases: number;
  accepted: number;
  refused: number;
  badError: number;
  garbage: number;
  validRefused: number;
  hangs: number;
  aborts: number;
  overMemory: number;
  unhandled: number;
  /** Children that exited with code 0 in the middle of a case: the case is run again in a fresh child. */
  retried: number;
  maxMs: number;
  maxRssMb: number;
  seconds: number;
  failures: Array<Partial<CaseResult> & { seed: number; why: string }>;
}

function newStats(target: string): Stats {
  return { target, cases: 0, accepted: 0, refused: 0, badError: 0, garbage: 0, validRefused: 0, hangs: 0, aborts: 0, overMemory: 0, unhandled: 0, retried: 0, maxMs: 0, maxRssMb: 0, seconds: 0, failures: [] };
}

function rssKb(pid: number): number {
  try {
    const m = /VmRSS:\s+(\d+)/.exec(fs.readFileSync(`/proc/${pid}/status`, 'utf8'));
    return m ? Number(m[1]) : 0;
  } catch {
    return 0;
  }
}

/** Runs seeds [from, to) of one target in children, restarting after a killed case. */
async function runShard(target: string, from: number, to: number, opts: { timeMs: number; memMb: number }, s: Stats, onCase: () => void): Promise<void> {
  let next = from;
  const retried = new Set<number>();
  while (next < to) {
    next = await new Promise<number>((resolve) => {
      const child: ChildProcess = fork(path.join(__dirname, 'worker.js'), [target, String(next), String(to)], {
        execArgv: ['--max-old-space-size=3072'],
        stdio: ['ignore', 'ignore', 'pipe', 'ipc'],
      });
      let current: number | undefined;
      let killedFor: 'hang' | 'memory' | undefined;
      let resumeAt = to;
      let timer: NodeJS.Timeout | undefined;
      let stderr = '';
      child.stderr!.on('data', (d) => (stderr = (stderr + d).slice(-2000)));
      const kill = (why: 'hang' | 'memory') => {
        if (killedFor) return;
        killedFor = why;
        child.kill('SIGKILL');
      };
      const poll = setInterval(() => {
        if (child.pid && rssKb(child.pid) > opts.memMb * 1024) kill('memory');
      }, 50);
      child.on('message', (m: { type: string; seed: number; result: CaseResult; peakKb: number; detail: string }) => {
        if (m.type === 'start') {
          current = m.seed;
          clearTimeout(timer);
          timer = setTimeout(() => kill('hang'), opts.timeMs);
        } else if (m.type === 'done') {
          clearTimeout(timer);
          const r = m.result;
          s.cases++;
          onCase();
          s.maxMs = Math.max(s.maxMs, r.ms);
          s.maxRssMb = Math.max(s.maxRssMb, m.peakKb / 1024);
          const key = ({ accepted: 'accepted', refused: 'refused', 'bad-error': 'badError', garbage: 'garbage', 'valid-refused': 'validRefused' } as const)[r.verdict];
          s[key]++;
          if (r.verdict !== 'accepted' && r.verdict !== 'refused') s.failures.push({ ...r, why: r.verdict });
          else if (retried.has(r.seed)) s.failures.push({ seed: r.seed, why: `note: ${r.verdict} when run again` });
          if (m.peakKb > opts.memMb * 1024) {
            s.overMemory++;
            s.failures.push({ ...r, why: `peak RSS ${Math.round(m.peakKb / 1024)} MB` });
          }
          current = undefined;
        } else if (m.type === 'unhandled') {
          s.unhandled++;
          s.failures.push({ seed: m.seed, why: 'unhandled rejection', detail: m.detail });
        }
      });
      // 'close', not 'exit': it comes after every IPC message has been delivered (fast cases queue up).
      child.on('close', (code, signal) => {
        clearInterval(poll);
        clearTimeout(timer);
        if (current !== undefined && code === 0 && !killedFor && !retried.has(current)) {
          // A clean exit with a case in flight is no verdict on the input (no signal, no error, nothing on
          // stderr; seen twice in 100 000 cases under heavy load, never when the seed ran again): run that
          // seed once more in a fresh child, and count the retry in the table. A second time is an abort.
          retried.add(current);
          s.retried++;
          s.failures.push({ seed: current, why: 'note: the child exited with code 0 during this case; run again' });
          resumeAt = current;
        } else if (current !== undefined) {
          s.cases++;
          onCase();
          if (killedFor === 'hang') s.hangs++;
          else if (killedFor === 'memory') s.overMemory++;
          else s.aborts++;
          const why = killedFor === 'hang' ? `hang (over ${opts.timeMs} ms)` : killedFor === 'memory' ? `RSS over ${opts.memMb} MB` : `abort (exit ${code ?? signal}) ${stderr.split('\n').slice(-3).join(' | ')}`;
          s.failures.push({ seed: current, why });
          resumeAt = current + 1;
        } else if (code !== 0 && resumeAt === to && s.cases === 0) {
          s.aborts++;
          s.failures.push({ seed: next, why: `worker failed to start: ${stderr.slice(-500)}` });
        }
        resolve(resumeAt);
      });
    });
  }
}

function table(rows: Stats[]): string {
  const head = ['parser', 'cases', 'accepted', 'refused (UserError)', 'raw/untyped errors', 'garbage accepted', 'hangs > 5 s', 'aborts', 'over 1 GB', 'unhandled rejections', 'child exits retried', 'slowest case', 'peak RSS', 'time'];
  const lines = [`| ${head.join(' | ')} |`, `|${head.map(() => ' --- ').join('|')}|`];
  for (const r of rows) {
    lines.push(
      `| ${r.target} | ${r.cases} | ${r.accepted} | ${r.refused} | ${r.badError + r.validRefused} | ${r.garbage} | ${r.hangs} | ${r.aborts} | ${r.overMemory} | ${r.unhandled} | ${r.retried} | ${(r.maxMs / 1000).toFixed(2)} s | ${Math.round(r.maxRssMb)} MB | ${formatDuration(r.seconds)} |`,
    );
  }
  return lines.join('\n');
}

async function main(): Promise<void> {
  const argv = await yargs(hideBin(process.argv))
    .scriptName('pnpm fuzz')
    .option('cases', { type: 'number', default: 10_000, describe: 'cases per parser (0: only the reproducers)' })
    .option('targets', { type: 'string', array: true, describe: `parsers to fuzz (default all: ${TARGETS.map((t) => t.name.split(/[ ./]/)[0]).join(', ')})` })
    .option('seed', { type: 'number', default: 1, describe: 'first seed; case i uses seed + i' })
    .option('jobs', { type: 'number', default: 2, describe: 'child processes at a time' })
    .option('time-limit', { type: 'number', default: 5000, describe: 'ms a case may take before it counts as a hang' })
    .option('memory-limit', { type: 'number', default: 1024, describe: 'MB of RSS a case may reach' })
    .option('failures', { type: 'string', default: 'fuzz-failures.jsonl', describe: 'where failing cases are written (target, seed, why)' })
    .option('reproducers', { type: 'boolean', default: true, describe: 'also run the issue-27 reproducers through the rahf CLI' })
    .option('verbose', { type: 'boolean', default: false })
    .strict()
    .help()
    .parseAsync();
  if (!(Number.isInteger(argv.cases) && argv.cases >= 0)) throw new Error(`--cases must be an integer >= 0, got ${argv.cases}`);
  for (const [k, v] of [['jobs', argv.jobs], ['time-limit', argv['time-limit']], ['memory-limit', argv['memory-limit']]] as const) {
    if (!(Number.isInteger(v) && v >= 1)) throw new Error(`--${k} must be an integer >= 1, got ${v}`);
  }
  const targets = argv.cases === 0 ? [] : argv.targets?.length ? argv.targets.map((n) => targetByName(n).name) : TARGETS.map((t) => t.name);
  const opts = { timeMs: argv['time-limit'], memMb: argv['memory-limit'] };
  const all: Stats[] = [];
  let failed = 0;
  for (const name of targets) {
    const s = newStats(name);
    const t0 = Date.now();
    const per = Math.ceil(argv.cases / argv.jobs);
    const progress = new Progress(argv.cases, `fuzz ${name}`, { unit: 'case', enabled: Boolean(process.stderr.isTTY) });
    const onCase = () => progress.tick();
    await Promise.all(
      Array.from({ length: argv.jobs }, (_, j) => {
        const from = argv.seed + j * per;
        const to = Math.min(argv.seed + argv.cases, from + per);
        return from < to ? runShard(name, from, to, opts, s, onCase) : Promise.resolve();
      }),
    );
    s.seconds = (Date.now() - t0) / 1000;
    const failing = s.failures.filter((f) => !f.why.startsWith('note:')).length;
    process.stderr.write(`fuzz ${name}: ${s.cases} cases in ${formatDuration(s.seconds)}, ${failing} failing${s.retried ? `, ${s.retried} case(s) run again after a clean child exit` : ''}\n`);
    for (const f of s.failures) fs.appendFileSync(argv.failures, JSON.stringify({ target: name, ...f }) + '\n');
    failed += failing;
    all.push(s);
  }
  if (all.length) process.stdout.write(`\n${table(all)}\n`);
  if (argv.reproducers) {
    const rep = await runReproducers({ log: (l) => process.stderr.write(l + '\n') });
    process.stdout.write(`\n${rep.table}\n`);
    failed += rep.failed;
  }
  if (failed) process.stderr.write(`fuzz: ${failed} failing case(s), listed in ${argv.failures}\n`);
  process.exitCode = failed ? 1 : 0;
}

main().catch((e) => {
  process.stderr.write(formatError(e, process.argv.includes('--verbose'), 'fuzz') + '\n');
  process.exitCode = 2;
});
