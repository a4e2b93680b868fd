import * as fs from 'fs';
import { initBackend } from '../backend';
import { runCase, scratchRoot, targetByName } from './run-case';

/*
 * A fuzz child process (main.ts forks it): runs the cases of one target for seeds [from, to) and reports
 * each before and after, so the parent can blame a hang, an abort or a memory blow-up on one seed. Peak
 * memory per case is the kernel's VmHWM, reset before each case through /proc/self/clear_refs.
 */

function peakKb(): number {
  const m = /VmHWM:\s+(\d+)/.exec(fs.readFileSync('/proc/self/status', 'utf8'));
  return m ? Number(m[1]) : 0;
}

function resetPeak(): void {
  try {
    fs.writeFileSync('/proc/self/clear_refs', '5');
  } catch {
    // not Linux, or not allowed: the parent's RSS polling still bounds memory
  }
}

async function main(): Promise<void> {
  const [name, fromArg, toArg] = process.argv.slice(2);
  const target = targetByName(name);
  const from = Number(fromArg);
  const to = Number(toArg);
  await initBackend('cpu');
  const root = scratchRoot();
  let current = -1;
  // A rejection nobody awaits is a bug of the case that caused it (the richhf decode before the fix).
  process.on('unhandledRejection', (e) => {
    process.send!({ type: 'unhandled', seed: current, detail: String((e as Error)?.stack ?? e).split('\n').slice(0, 3).join(' | ') });
  });
  try {
    for (let seed = from; seed < to; seed++) {
      current = seed;
      resetPeak();
      process.send!({ type: 'start', seed });
      const r = await runCase(target, seed, root);
      process.send!({ type: 'done', result: r, peakKb: peakKb() });
    }
  } finally {
    fs.rmSync(root, { recursive: true, force: true });
  }
  process.send!({ type: 'finished' });
  process.disconnect?.();
}

main().catch((e) => {
  process.stderr.write(`fuzz worker: ${(e as Error)?.stack ?? e}\n`);
  process.exitCode = 70;
});
