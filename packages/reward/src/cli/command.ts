import type { ArgumentsCamelCase, Argv, CommandModule } from 'yargs';
import { initBackend } from '../backend';
import { runGuarded } from '../errors';
import { applyLimitOptions } from './validate';

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
  await runGuarded('rahf', argv.verbose, async () => {
    applyLimitOptions(argv as Record<string, unknown>);
    if (needsModel) await initBackend(argv.backend);
    return body();
  });
}

// The option checks live in validate.ts (one module every command calls); re-exported for the command files.
export { checkInt, checkIntIn, checkNumber } from './validate';
