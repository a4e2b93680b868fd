import * as fs from 'fs';
import { UserError } from '../errors';

/** One JSON line of a JSONL file: its value and `file:line`, for messages about it. */
export interface JsonlLine {
  where: string;
  value: unknown;
}

/** The JSON value of every non-empty line of `text` (read from `file`); a bad line is an error naming file and line. */
export function parseJsonl(text: string, file: string): JsonlLine[] {
  const out: JsonlLine[] = [];
  text.split('\n').forEach((line, i) => {
    if (!line.trim()) return;
    const where = `${file}:${i + 1}`;
    try {
      out.push({ where, value: JSON.parse(line) });
    } catch (e) {
      throw new UserError(`${where}: not valid JSON (${(e as Error).message})`);
    }
  });
  return out;
}

/** A JSONL file's lines (see parseJsonl); `what` names the file's role in messages ("captions", "prompts"). */
export function readJsonl(file: string, what: string): JsonlLine[] {
  let text: string;
  try {
    text = fs.readFileSync(file, 'utf8');
  } catch (e) {
    const code = (e as NodeJS.ErrnoException).code;
    throw new UserError(code === 'ENOENT' ? `${file}: no such ${what} file` : `${file}: cannot read the ${what} file (${code ?? e})`);
  }
  return parseJsonl(text, file);
}

/**
 * `{key: string, value: string}` per line → map; of a repeated key the first line wins, or the last with
 * `repeated: 'last'`. Used for the `{uid, caption}` sidecars of data folders and the `{file, prompt}` lists
 * of `rahf score`.
 */
export function readJsonlMap(file: string, what: string, key: string, value: string, repeated: 'first' | 'last' = 'first'): Map<string, string> {
  const out = new Map<string, string>();
  for (const { where, value: rec } of readJsonl(file, what)) {
    const r = rec as Record<string, unknown> | null;
    if (typeof r !== 'object' || r === null || typeof r[key] !== 'string' || typeof r[value] !== 'string') {
      throw new UserError(`${where}: expected {"${key}": "...", "${value}": "..."}`);
    }
    if (repeated === 'last' || !out.has(r[key] as string)) out.set(r[key] as string, r[value] as string);
  }
  return out;
}
