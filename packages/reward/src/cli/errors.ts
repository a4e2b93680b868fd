/**
 * An error caused by the user's input (a bad file, a bad flag). The CLI prints its message as one line
 * and exits non-zero without a stack trace; anything else is a bug and shows its stack with --verbose.
 */
export class UserError extends Error {
  constructor(message: string, readonly exitCode = 1) {
    super(message);
    this.name = 'UserError';
  }
}

/** One line: the first line of the message, prefixed by the program name. */
export function formatError(e: unknown, verbose: boolean): string {
  if (verbose && e instanceof Error && e.stack) return `rahf: ${e.stack}`;
  const msg = e instanceof Error ? e.message : String(e);
  return `rahf: ${msg.split('\n')[0]}`;
}
