import { runGuarded } from '@richhf/reward';

export interface Common {
  verbose?: boolean;
}

/** Runs a command body with the project's exit-code and one-line-error conventions (`runGuarded`). */
export function guarded(argv: Common, body: () => Promise<number | void>): Promise<void> {
  return runGuarded('guide', argv.verbose, body);
}
