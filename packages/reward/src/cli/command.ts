import type { ArgumentsCamelCase, Argv, CommandModule } from 'yargs';
import { initBackend } from '../backend';
import { formatError, UserError } from '../errors';

/** Options every `rahf` command takes (cli/main.ts declares them). */
export interface Common {
  verbose?: boolean;
  backend?: string;
}

/** Where a command's output goes (tests capture it): stdout for results, stderr for messages. */
export interface CliIO {
  stdout: (text: string) => void;
  stderr: (line: string) => void;
}

/** The process's own streams, one line per call. */
export const processIO: CliIO = {
  stdout: (t) => process.stdout.write(t + '\n'),
  stderr: (l) => process.stderr.write(l + '\n'),
};

/** A `rahf` command as yargs takes it: each command file exports one. */
export type RahfCommand<A = object> = CommandModule<Common, A>;

/** A command module whose handler's argument types follow from its builder's options. */
export function rahfCommand<A>(spec: {
  command: string;
  describe: string;
  builder: (y: Argv<Common>) => Argv<A>;
  handler: (argv: ArgumentsCamelCase<A>) => Promise<void>;
}): RahfCommand<A> {
  return spec;
}

/**
 * Run a command body; user-facing failures become one line on stderr and a non-zero exit code. The tfjs
 * backend is brought up first unless the command loads no model.
 */
export async function guarded(argv: ArgumentsCamelCase<Common>, body: () => Promise<number | void>, needsModel = true): Promise<void> {
  try {
    if (needsModel) await initBackend(argv.backend);
    const code = await body();
    process.exitCode = typeof code === 'number' ? code : 0;
  } catch (e) {
    process.stderr.write(formatError(e, Boolean(argv.verbose)) + '\n');
    process.exitCode = e instanceof UserError ? e.exitCode : 1;
  }
}

/** `--name` must be an integer ≥ min (unset passes). */
export function checkInt(name: string, v: number | undefined, min = 1): void {
  if (v !== undefined && !(Number.isInteger(v) && v >= min)) throw new UserError(`--${name} must be an integer >= ${min}, got ${v}`);
}

/** `--name` must be an integer in [lo, hi]. */
export function checkIntIn(name: string, v: number, lo: number, hi: number): void {
  if (!Number.isInteger(v) || v < lo || v > hi) throw new UserError(`--${name} must be an integer in [${lo}, ${hi}], got ${v}`);
}

/** `--name` must be a finite number > 0 (≥ 0 with allowZero; unset passes). */
export function checkNumber(name: string, v: number | undefined, allowZero = false): void {
  if (v !== undefined && !(Number.isFinite(v) && (allowZero ? v >= 0 : v > 0))) {
    throw new UserError(`--${name} must be a number ${allowZero ? '>= 0' : '> 0'}, got ${v}`);
  }
}
