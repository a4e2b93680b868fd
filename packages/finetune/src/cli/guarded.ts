import { runGuarded, UserError } from '@richhf/reward';

export interface Common {
  verbose?: boolean;
}

/** Runs a command body with the project's exit-code and one-line-error conventions (`runGuarded`). */
export function guarded(argv: Common, body: () => Promise<number | void>): Promise<void> {
  return runGuarded('finetune', argv.verbose, body);
}

/** `--format a,b` or repeated `--format a --format b` → a list. */
export function listOption(v: unknown): string[] {
  const items = (Array.isArray(v) ? v : [v]).filter((x) => x !== undefined).flatMap((x) => String(x).split(','));
  return items.map((s) => s.trim()).filter(Boolean);
}

/** `--param key=value` (repeatable): values parsed as JSON when they are JSON (numbers, booleans), else text. */
export function paramsOption(v: unknown): Record<string, unknown> | undefined {
  const items = listOptionRaw(v);
  if (items.length === 0) return undefined;
  const out: Record<string, unknown> = {};
  for (const item of items) {
    const eq = item.indexOf('=');
    if (eq <= 0) throw new UserError(`--param ${item}: expected key=value`);
    const raw = item.slice(eq + 1);
    let value: unknown = raw;
    try {
      value = JSON.parse(raw);
    } catch {
      /* text */
    }
    out[item.slice(0, eq)] = value;
  }
  return out;
}

function listOptionRaw(v: unknown): string[] {
  return (Array.isArray(v) ? v : [v]).filter((x) => x !== undefined).map(String);
}
