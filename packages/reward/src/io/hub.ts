import * as fs from 'fs';
import * as os from 'os';
import * as path from 'path';
import { UserError } from '../errors';

/**
 * Model references → local directories, through the standard Hugging Face cache layout shared with the
 * Python `huggingface_hub` (so models downloaded by either are reused):
 *   <cache>/models--<owner>--<name>/refs/<revision>          commit hash of a branch/tag
 *   <cache>/models--<owner>--<name>/snapshots/<commit>/<file> symlink into ../../blobs/<etag>
 * Downloads go through @huggingface/hub's cache-dir functions, which write this layout.
 */

export interface ResolveOptions {
  /** Branch, tag or commit (default: the `@revision` in the ref, else "main"). */
  revision?: string;
  /** Hub cache directory (default: `hubCacheDir()`). */
  cacheDir?: string;
  /** Download/require only these files (default: the whole repository snapshot). */
  files?: string[];
  /** Never touch the network (also on when HF_HUB_OFFLINE is set to 1/true/yes/on). */
  offline?: boolean;
  /** Per request: time allowed until the response headers arrive (default 30 s). */
  timeoutMs?: number;
  /** fetch used for Hub requests (proxies, tests). */
  fetch?: typeof fetch;
}

const COMMIT = /^[0-9a-f]{40}$/;
const REPO_ID = /^[A-Za-z0-9][\w.-]*\/[\w.-]+$/;

/** HF_HUB_CACHE, else $HF_HOME/hub, else $XDG_CACHE_HOME/huggingface/hub, else ~/.cache/huggingface/hub. */
export function hubCacheDir(): string {
  const env = process.env;
  if (env.HF_HUB_CACHE) return env.HF_HUB_CACHE;
  if (env.HF_HOME) return path.join(env.HF_HOME, 'hub');
  return path.join(env.XDG_CACHE_HOME || path.join(os.homedir(), '.cache'), 'huggingface', 'hub');
}

/** HF_HUB_OFFLINE as huggingface_hub reads it. */
export function isOfflineEnv(): boolean {
  return ['1', 'true', 'yes', 'on'].includes((process.env.HF_HUB_OFFLINE ?? '').trim().toLowerCase());
}

/** `owner/name[@revision]` → parts; undefined when `ref` is not shaped like a repo id. */
export function parseModelRef(ref: string): { repo: string; revision?: string } | undefined {
  const at = ref.indexOf('@');
  const repo = at < 0 ? ref : ref.slice(0, at);
  const revision = at < 0 ? undefined : ref.slice(at + 1);
  if (!REPO_ID.test(repo) || repo.includes('..') || revision === '') return undefined;
  return { repo, revision };
}

/**
 * A model reference → a local directory. An existing directory is returned as is; `owner/name[@revision]`
 * is resolved to `<cache>/models--owner--name/snapshots/<commit>`, downloading what is missing unless
 * offline. Offline, or when the Hub cannot be reached, files already in the cache are used; otherwise the
 * error names the repository and revision.
 */
export async function resolveModel(ref: string, opts: ResolveOptions = {}): Promise<string> {
  if (fs.existsSync(ref)) {
    if (fs.statSync(ref).isDirectory()) return ref;
    throw new UserError(`${ref}: is a file; expected a model directory or a Hugging Face repo id (owner/name[@revision])`);
  }
  const parsed = parseModelRef(ref);
  if (!parsed) throw new UserError(`${ref}: no such directory, and not a Hugging Face repo id (owner/name[@revision])`);
  if (parsed.revision && opts.revision && parsed.revision !== opts.revision) {
    throw new UserError(`${ref}: revision '${parsed.revision}' conflicts with the revision option '${opts.revision}'`);
  }
  const repo = parsed.repo;
  const revision = parsed.revision ?? opts.revision ?? 'main';
  checkRevision(repo, revision);
  const cacheDir = opts.cacheDir ?? hubCacheDir();
  const files = opts.files ?? [];
  const where = `${repo}@${revision}`;

  const cached = cachedSnapshot(cacheDir, repo, revision, files);
  if (opts.offline || isOfflineEnv()) {
    if (cached.dir) return cached.dir;
    throw new UserError(`${where}: ${cached.missing} in the Hugging Face cache ${cacheDir} (offline mode: HF_HUB_OFFLINE or offline option)`);
  }
  // A commit never changes: when its files are cached there is nothing to ask the Hub.
  if (cached.dir && COMMIT.test(revision)) return cached.dir;

  try {
    return await download(repo, revision, cacheDir, files, opts);
  } catch (e) {
    if (cached.dir) return cached.dir; // Hub unreachable (or refusing): the cached copy still serves.
    const msg = String((e as Error)?.message ?? e).split('\n')[0];
    throw new UserError(`${where}: download failed (${msg}) and ${cached.missing} in the Hugging Face cache ${cacheDir}`);
  }
}

function checkRevision(repo: string, revision: string): void {
  const parts = revision.split('/');
  if (path.isAbsolute(revision) || parts.some((p) => p === '' || p === '.' || p === '..')) {
    throw new UserError(`${repo}@${revision}: invalid revision`);
  }
}

function repoFolder(cacheDir: string, repo: string): string {
  return path.join(cacheDir, `models--${repo.replace(/\//g, '--')}`);
}

/**
 * The cached snapshot directory for `revision` holding all of `files`, found without network:
 * a commit hash names its snapshot directly, a branch/tag goes through refs/<revision>.
 * Otherwise `missing` says what is absent (for error messages).
 */
export function cachedSnapshot(
  cacheDir: string,
  repo: string,
  revision: string,
  files: string[] = [],
): { dir?: string; missing: string } {
  const folder = repoFolder(cacheDir, repo);
  let commit = revision;
  if (!COMMIT.test(revision)) {
    const refFile = path.join(folder, 'refs', revision);
    if (!fs.existsSync(refFile)) return { missing: 'not found' };
    commit = fs.readFileSync(refFile, 'utf8').trim();
    if (!COMMIT.test(commit)) return { missing: `refs/${revision} holds no commit hash` };
  }
  const dir = path.join(folder, 'snapshots', commit);
  if (!fs.existsSync(dir) || !fs.statSync(dir).isDirectory()) return { missing: `snapshot ${commit} not found` };
  for (const f of files) {
    // existsSync follows symlinks, so a snapshot link to a missing blob counts as missing.
    if (!fs.existsSync(path.join(dir, f))) return { missing: `${f} not found (snapshot ${commit})` };
  }
  return { dir, missing: '' };
}

/** Loads @huggingface/hub lazily: its CommonJS build, through import() so startup does not pay for it. */
export async function loadHubLibrary(): Promise<typeof import('@huggingface/hub')> {
  return import('@huggingface/hub');
}

async function download(repo: string, revision: string, cacheDir: string, files: string[], opts: ResolveOptions): Promise<string> {
  const hub = await loadHubLibrary();
  const common = {
    fetch: boundedFetch(opts.fetch ?? fetch, opts.timeoutMs ?? 30_000),
    accessToken: process.env.HF_TOKEN || process.env.HUGGING_FACE_HUB_TOKEN || undefined,
  };
  if (files.length === 0) {
    return hub.snapshotDownload({ ...common, repo: { type: 'model', name: repo }, revision, cacheDir });
  }
  // Resolve the revision to its commit first so every file lands in the same snapshot directory
  // (downloadFileToCacheDir alone files a branch download under the file's last commit).
  const info = await hub.modelInfo({ ...common, name: repo, revision, additionalFields: ['sha'] });
  const commit = info.sha;
  if (!COMMIT.test(commit)) throw new UserError(`Hub returned no commit for ${repo}@${revision}`);
  const folder = repoFolder(cacheDir, repo);
  if (revision !== commit) {
    const refFile = path.join(folder, 'refs', revision);
    fs.mkdirSync(path.dirname(refFile), { recursive: true });
    fs.writeFileSync(refFile, commit);
  }
  for (const f of files) {
    await hub.downloadFileToCacheDir({ ...common, repo: { type: 'model', name: repo }, path: f, revision: commit, cacheDir });
  }
  return path.join(folder, 'snapshots', commit);
}

/** Aborts a request whose response headers do not arrive within `ms` (the body may then stream freely). */
function boundedFetch(base: typeof fetch, ms: number): typeof fetch {
  return async (input, init) => {
    const ctrl = new AbortController();
    const timer = setTimeout(() => ctrl.abort(new UserError(`no response from the Hub within ${ms} ms`)), ms);
    const signal = init?.signal ? AbortSignal.any([init.signal, ctrl.signal]) : ctrl.signal;
    try {
      return await base(input, { ...init, signal });
    } finally {
      clearTimeout(timer);
    }
  };
}
