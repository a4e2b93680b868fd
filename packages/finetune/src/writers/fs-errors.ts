import { UserError } from '@richhf/reward';

/**
 * A failed write as one line: disk full and quota errors name the file and say what to do (the run keeps
 * what it committed; rerun after freeing space to resume); anything else keeps the system's message.
 */
export function writeError(e: unknown, file: string): Error {
  const code = (e as NodeJS.ErrnoException)?.code;
  if (code === 'ENOSPC' || code === 'EDQUOT') {
    return new UserError(`disk full writing ${file} (${code}): free space and rerun the same command to resume; everything committed before is kept`, 4);
  }
  if (code === 'EACCES' || code === 'EPERM' || code === 'EROFS') return new UserError(`cannot write ${file} (${code})`);
  if (e instanceof UserError) return e;
  const err = new Error(`writing ${file}: ${(e as Error)?.message ?? String(e)}`);
  (err as NodeJS.ErrnoException).code = code;
  return err;
}
