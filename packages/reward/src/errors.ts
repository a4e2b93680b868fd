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

/**
 * Runs a CLI command's body, as every program of this project does: its number is the exit code; a failure is
 * one line on stderr (the stack with `verbose`) and a non-zero exit code — the UserError's own, 1 for anything else.
 */
export async function runGuarded(program: string, verbose: boolean | undefined, body: () => Promise<number | void>): Promise<void> {
  try {
    const code = await body();
    process.exitCode = typeof code === 'number' ? code : 0;
  } catch (e) {
    process.stderr.write(formatError(e, Boolean(verbose), program) + '\n');
    process.exitCode = e instanceof UserError ? e.exitCode : 1;
  }
}
