import * as crypto from 'crypto';
import * as fs from 'fs';
import * as os from 'os';
import * as path from 'path';
import { RewardModel } from '../rahf/model';
import { exportRahf } from './export';
import { manifestPath } from './manifest';

/*
 * ONNX exports of checkpoints, kept in a cache folder so that opening a checkpoint on the onnxruntime
 * engine exports it once. An entry is named by a key over what the export is made of (the checkpoint's
 * files: relative path, size and mtime; the exporter's version; int8 or not), so a changed checkpoint
 * gets a new entry instead of stale graphs. An export is written into a temporary folder inside the
 * cache and renamed into place whole: a killed export leaves only a temporary folder, which no lookup
 * reads.
 */

/** Bump when the graphs an export writes change, so older cache entries are not reused. */
const EXPORT_FORMAT = 1;

/** Where exports are cached: RAHF_CACHE_DIR, else $XDG_CACHE_HOME/richhf/onnx, else ~/.cache/richhf/onnx. */
export function defaultExportCacheDir(): string {
  if (process.env.RAHF_CACHE_DIR) return process.env.RAHF_CACHE_DIR;
  const base = process.env.XDG_CACHE_HOME || path.join(os.homedir(), '.cache');
  return path.join(base, 'richhf', 'onnx');
}

export interface ExportCacheOptions {
  /** Cache folder (default {@link defaultExportCacheDir}). */
  cacheDir?: string;
  /** Dynamically int8-quantised graphs (a separate entry). */
  int8?: boolean;
  /** Progress lines while exporting. */
  log?: (line: string) => void;
}

/** Regular files below `dir` (two levels: youweiliang folders keep `vit/` and `t5/` configs inside), sorted. */
function filesBelow(dir: string, depth = 2): string[] {
  const out: string[] = [];
  for (const e of fs.readdirSync(dir, { withFileTypes: true })) {
    if (e.name.startsWith('.')) continue;
    const p = path.join(dir, e.name);
    const st = fs.statSync(p, { throwIfNoEntry: false }); // follows the hub cache's links
    if (st?.isFile()) out.push(p);
    else if (st?.isDirectory() && depth > 0) out.push(...filesBelow(p, depth - 1));
  }
  return out.sort();
}

/**
 * The cache key of a checkpoint folder (or weights file and the folder beside it): a hash over each
 * file's path, size and modification time, and the sub-folders its config.json names (tokenizer, towers).
 */
export function checkpointKey(checkpoint: string, opts: { int8?: boolean } = {}): string {
  const ref = path.resolve(checkpoint);
  const isFile = fs.statSync(ref).isFile();
  const dir = isFile ? path.dirname(ref) : ref;
  const files = isFile ? [ref, ...['config.json', 'tokenizer.json'].map((f) => path.join(dir, f)).filter((f) => fs.existsSync(f))] : filesBelow(dir);
  const cfg = path.join(dir, 'config.json');
  if (!isFile && fs.existsSync(cfg)) {
    const json = JSON.parse(fs.readFileSync(cfg, 'utf8')) as Record<string, unknown>;
    for (const k of ['vit', 't5']) {
      const sub = typeof json[k] === 'string' ? path.resolve(dir, json[k] as string) : undefined;
      if (sub && !sub.startsWith(dir + path.sep) && fs.existsSync(sub) && fs.statSync(sub).isDirectory()) files.push(...filesBelow(sub, 0));
    }
  }
  const h = crypto.createHash('sha256');
  h.update(JSON.stringify({ format: EXPORT_FORMAT, version: packageVersion(), int8: Boolean(opts.int8), ref }));
  for (const f of files) {
    const st = fs.statSync(f);
    h.update(`\n${f}\t${st.size}\t${st.mtimeMs}`);
  }
  return `${h.digest('hex').slice(0, 24)}${opts.int8 ? '-int8' : ''}`;
}

let version: string | undefined;
function packageVersion(): string {
  version ??= (JSON.parse(fs.readFileSync(path.resolve(__dirname, '..', '..', 'package.json'), 'utf8')) as { version: string }).version;
  return version;
}

/**
 * The folder of the checkpoint's ONNX export (scores, heatmaps and keyword-decoder graphs, tokenizer,
 * manifest), exported on first use. `checkpoint` is a local folder or weights file (resolve hub ids
 * first).
 */
export async function cachedExport(checkpoint: string, opts: ExportCacheOptions = {}): Promise<string> {
  const root = path.resolve(opts.cacheDir ?? defaultExportCacheDir());
  const key = checkpointKey(checkpoint, { int8: opts.int8 });
  const final = path.join(root, key);
  const done = () => fs.existsSync(manifestPath(path.join(final, 'model.onnx')));
  if (done()) return final;
  fs.mkdirSync(root, { recursive: true });
  const tmp = fs.mkdtempSync(path.join(root, `.tmp-${key}-`));
  try {
    opts.log?.(`exporting ${checkpoint} to the ONNX cache ${final}`);
    const model = await RewardModel.load(checkpoint);
    try {
      exportRahf(model, path.join(tmp, 'model.onnx'), { heatmaps: true, quantize: opts.int8 ? 'int8' : undefined, log: opts.log });
    } finally {
      model.dispose();
    }
    try {
      fs.renameSync(tmp, final);
    } catch (e) {
      // Another process finished the same export first: keep theirs. Renames only ever put whole exports
      // here, so a folder without its manifest was emptied by hand: replace it.
      if (done()) return final;
      if (!fs.existsSync(final)) throw e;
      fs.rmSync(final, { recursive: true, force: true });
      fs.renameSync(tmp, final);
    }
  } finally {
    fs.rmSync(tmp, { recursive: true, force: true });
  }
  return final;
}
