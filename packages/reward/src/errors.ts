/**
 * An error caused by the user's input (a bad file, a bad flag, a bad argument). CLIs print its message as
 * one line and exit with `exitCode` without a stack trace; any other error is a bug and shows its stack
 * with --verbose. Every @richhf package throws this for input it refuses, naming the file or option.
 */
export class UserError extends Error {
  constructor(message: string, readonly exitCode = 1) {
    super(message);
    this.name = 'UserError';
  }
}

/** One line for stderr: the first line of the message, prefixed by the program name (the stack with `verbose`). */
export function formatError(e: unknown, verbose: boolean, program = 'rahf'): string {
  if (verbose && e instanceof Error && e.stack) return `${program}: ${e.stack}`;
  const msg = e instanceof Error ? e.message : String(e);
  return `${program}: ${msg.split('\n')[0]}`;
}
