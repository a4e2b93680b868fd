import * as fs from 'fs';
import * as path from 'path';
import { UserError } from '@richhf/reward';
import { safeKey } from './ids';

export interface PromptEntry {
  /** The id as given (JSONL `id`, or the line number of a plain-text file, from 0). */
  id: string;
  prompt: string;
  /** File-name-safe form of the id (see safeKey): folder names, tar member names, webdataset keys. */
  key: string;
  /** Line of the prompts file, from 1 (for messages). */
  line: number;
}

/**
 * A prompts file: JSONL (`.jsonl` / `.ndjson`: one `{"id", "prompt"}` object per line; `id` may be a number
 * and defaults to the line number from 0) or plain text (line n, from 0, is prompt id `n`; blank lines are
 * skipped but keep their number). Validated whole before any work starts, so a broken line 90 000 fails in
 * the first second of a run rather than in its ninth hour.
 */
export function readPrompts(file: string): PromptEntry[] {
  let text: string;
  try {
    text = fs.readFileSync(file, 'utf8');
  } catch (e) {
    const code = (e as NodeJS.ErrnoException).code;
    throw new UserError(`--prompts ${file}: ${code === 'ENOENT' ? 'no such file' : code === 'EISDIR' ? 'is a folder, not a prompts file' : `cannot read (${code})`}`);
  }
  const jsonl = /\.(jsonl|ndjson)$/i.test(file);
  const lines = text.split(/\r?\n/);
  const out: PromptEntry[] = [];
  const byKey = new Map<string, PromptEntry>();
  const name = path.basename(file);
  lines.forEach((raw, i) => {
    const line = raw.trim();
    if (!line) return;
    const where = `${name}:${i + 1}`;
    let id = String(i);
    let prompt = line;
    if (jsonl) {
      let obj: unknown;
      try {
        obj = JSON.parse(line);
      } catch (e) {
        throw new UserError(`--prompts ${where}: not a JSON object (${(e as Error).message.split('\n')[0]})`);
      }
      if (typeof obj !== 'object' || obj === null || Array.isArray(obj)) throw new UserError(`--prompts ${where}: expected a JSON object {"id", "prompt"}`);
      const o = obj as Record<string, unknown>;
      if (typeof o.prompt !== 'string' || !o.prompt.trim()) throw new UserError(`--prompts ${where}: "prompt" must be a non-empty string`);
      prompt = o.prompt.trim();
      if (o.id !== undefined) {
        if (typeof o.id !== 'string' && typeof o.id !== 'number') throw new UserError(`--prompts ${where}: "id" must be a string or a number`);
        id = String(o.id);
        if (!id) throw new UserError(`--prompts ${where}: "id" is empty`);
      }
    }
    const entry: PromptEntry = { id, prompt, key: safeKey(id), line: i + 1 };
    const twin = byKey.get(entry.key);
    if (twin) {
      const what = twin.id === id ? `id ${JSON.stringify(id)} repeats` : `ids ${JSON.stringify(twin.id)} and ${JSON.stringify(id)} map to the same key ${entry.key}`;
      throw new UserError(`--prompts ${where}: ${what} (first at line ${twin.line})`);
    }
    byKey.set(entry.key, entry);
    out.push(entry);
  });
  if (out.length === 0) throw new UserError(`--prompts ${file}: no prompts`);
  return out;
}
