import { formatError, UserError } from '@richhf/reward';

export interface Common {
  verbose?: boolean;
}

/**
 * Runs a command body: its number is the exit code; a failure is one line on stderr (the stack with --verbose)
 * and a non-zero exit code — the UserError's own for bad input, 1 for anything else.
 */
export async function guarded(argv: Common, body: () => Promise<number | void>): Promise<void> {
  try {
    const code = await body();
    process.exitCode = typeof code === 'number' ? code : 0;
  } catch (e) {
    process.stderr.write(formatError(e, Boolean(argv.verbose), 'guide') + '\n');
    process.exitCode = e instanceof UserError ? e.exitCode : 1;
  }
}
