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

/**
 * A file refused for what it holds (corrupt, truncated, malformed, not the format it claims): the message
 * is `<file>: <problem>`, one line. `file` may carry a position ("data.tfrecord: record 3").
 */
export class FileFormatError extends UserError {
  constructor(readonly file: string, readonly problem: string) {
    super(`${file}: ${oneLine(problem)}`);
    this.name = 'FileFormatError';
  }
}

/**
 * A file refused because it goes over a documented resource limit (pixels, record or tensor bytes, pickle
 * size, inflated size…) before it could exhaust memory or time. `limit` names the setting that raises it
 * (io/limits.ts `Limits` key; the CLI option or environment variable is in the message).
 */
export class LimitError extends FileFormatError {
  constructor(file: string, problem: string, readonly limit: string) {
    super(file, problem);
    this.name = 'LimitError';
  }
}

/** File content quoted in a problem (a JSON parser's excerpt) may hold line breaks: shown as spaces. */
function oneLine(s: string): string {
  return s.replace(/[\r\n]+/g, ' ');
}

/** One line for stderr: the first line of the message, prefixed by the program name (the stack with `verbose`). */
export function formatError(e: unknown, verbose: boolean, program = 'rahf'): string {
  if (verbose && e instanceof Error && e.stack) return `${program}: ${e.stack}`;
  const msg = e instanceof Error ? e.message : String(e);
  return `${program}: ${msg.split('\n')[0]}`;
}
