import * as fs from 'fs';
import * as path from 'path';
import { readJsonlMap } from '../data/jsonl';

export const IMAGE_EXTENSIONS = new Set(['.png', '.jpg', '.jpeg', '.webp', '.bmp', '.tif', '.tiff', '.gif', '.avif', '.heic']);

export interface Failure {
  file: string;
  error: string;
}

/**
 * Expand the command line's paths: a file is taken as given (even without an image extension, so a
 * mislabelled file is reported rather than silently skipped); a folder contributes its image files,
 * sorted, recursively. A path that does not exist becomes a failure, not an abort.
 */
export function collectImages(paths: string[]): { files: string[]; failures: Failure[]; skipped: number } {
  const files: string[] = [];
  const failures: Failure[] = [];
  let skipped = 0;
  const walk = (dir: string): void => {
    for (const e of fs.readdirSync(dir, { withFileTypes: true }).sort((a, b) => a.name.localeCompare(b.name))) {
      const p = path.join(dir, e.name);
      if (e.isDirectory()) walk(p);
      else if (IMAGE_EXTENSIONS.has(path.extname(e.name).toLowerCase())) files.push(p);
      else skipped++;
    }
  };
  for (const p of paths) {
    let st: fs.Stats;
    try {
      st = fs.statSync(p);
    } catch {
      failures.push({ file: p, error: `${p}: no such file or directory` });
      continue;
    }
    if (st.isDirectory()) walk(p);
    else files.push(p);
  }
  return { files, failures, skipped };
}

/**
 * Prompts per image from a JSONL file: each line `{"file": "...", "prompt": "..."}`; `file` matches an
 * image by its path as given or by its base name (the last line of a file wins).
 */
export function readPromptsJsonl(file: string): Map<string, string> {
  return readJsonlMap(file, 'prompts', 'file', 'prompt', 'last');
}

export function promptFor(image: string, prompts: Map<string, string>): string | undefined {
  return prompts.get(image) ?? prompts.get(path.basename(image)) ?? prompts.get(path.resolve(image));
}
