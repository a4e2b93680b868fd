import * as fs from 'fs';
import * as os from 'os';
import * as path from 'path';
import { cachedSnapshot, hubCacheDir, isOfflineEnv, loadHubLibrary, parseModelRef, resolveModel } from './hub';

// No test touches the network: online paths get a fetch that fails, or a fake Hub answering in-process.

const MAIN = 'a'.repeat(40);
const V1 = '1234567890abcdef1234567890abcdef12345678';
const ENV = ['HF_HUB_OFFLINE', 'HF_HUB_CACHE', 'HF_HOME', 'XDG_CACHE_HOME', 'HF_TOKEN', 'HUGGING_FACE_HUB_TOKEN'] as const;

let tmp: string;
let saved: Record<string, string | undefined>;
beforeAll(() => {
  tmp = fs.mkdtempSync(path.join(os.tmpdir(), 'hub-test-'));
  saved = Object.fromEntries(ENV.map((k) => [k, process.env[k]]));
});
afterAll(() => fs.rmSync(tmp, { recursive: true, force: true }));
beforeEach(() => {
  for (const k of ENV) delete process.env[k];
});
afterEach(() => {
  for (const k of ENV) {
    if (saved[k] === undefined) delete process.env[k];
    else process.env[k] = saved[k];
  }
});

/** A cache laid out like huggingface_hub's: blobs, snapshot symlinks into them, refs for main and a tag. */
function fakeCache(): string {
  const cache = fs.mkdtempSync(path.join(tmp, 'cache-'));
  const repo = path.join(cache, 'models--owner--name');
  fs.mkdirSync(path.join(repo, 'blobs'), { recursive: true });
  fs.mkdirSync(path.join(repo, 'refs'));
  const blob = (id: string, text: string) => fs.writeFileSync(path.join(repo, 'blobs', id), text);
  blob('b1', '{"model_type": "rahf", "rev": "main"}');
  blob('b2', '{"model_type": "rahf", "rev": "v1"}');
  blob('b3', 'weights');
  for (const [commit, files] of [
    [MAIN, { 'config.json': 'b1', 'sub/model.safetensors': 'b3', 'broken.bin': 'missing-blob' }],
    [V1, { 'config.json': 'b2' }],
  ] as const) {
    for (const [f, id] of Object.entries(files)) {
      const p = path.join(repo, 'snapshots', commit, f);
      fs.mkdirSync(path.dirname(p), { recursive: true });
      fs.symlinkSync(path.relative(path.dirname(p), path.join(repo, 'blobs', id)), p);
    }
  }
  fs.writeFileSync(path.join(repo, 'refs', 'main'), MAIN); // no newline, like the real cache
  fs.writeFileSync(path.join(repo, 'refs', 'v1'), `${V1}\n`);
  return cache;
}

const snapshot = (cache: string, commit: string) => path.join(cache, 'models--owner--name', 'snapshots', commit);
const failingFetch = () => {
  const calls: string[] = [];
  const f = (async (url: string | URL | Request) => {
    calls.push(String(url));
    throw new TypeError('fetch failed (no network in tests)');
  }) as typeof fetch;
  return { f, calls };
};

describe('environment', () => {
  test('cache dir: HF_HUB_CACHE, else HF_HOME/hub, else ~/.cache/huggingface/hub', () => {
    expect(hubCacheDir()).toBe(path.join(os.homedir(), '.cache', 'huggingface', 'hub'));
    process.env.XDG_CACHE_HOME = '/xdg';
    expect(hubCacheDir()).toBe(path.join('/xdg', 'huggingface', 'hub'));
    process.env.HF_HOME = '/hf';
    expect(hubCacheDir()).toBe(path.join('/hf', 'hub'));
    process.env.HF_HUB_CACHE = '/cache';
    expect(hubCacheDir()).toBe('/cache');
  });
  test('HF_HUB_OFFLINE', () => {
    expect(isOfflineEnv()).toBe(false);
    for (const v of ['1', 'true', 'YES', 'on']) {
      process.env.HF_HUB_OFFLINE = v;
      expect(isOfflineEnv()).toBe(true);
    }
    process.env.HF_HUB_OFFLINE = '0';
    expect(isOfflineEnv()).toBe(false);
  });
  test('refs', () => {
    expect(parseModelRef('owner/name')).toEqual({ repo: 'owner/name', revision: undefined });
    expect(parseModelRef('google/vit-large-patch16-384@refs/pr/1')).toEqual({ repo: 'google/vit-large-patch16-384', revision: 'refs/pr/1' });
    for (const bad of ['name', 'a/b/c', 'owner/name@', '../x', 'a/..']) expect(parseModelRef(bad)).toBeUndefined();
  });
  test('@huggingface/hub loads under CommonJS (ts-jest) with its cache-dir functions', async () => {
    const hub = await loadHubLibrary();
    expect(typeof hub.snapshotDownload).toBe('function');
    expect(typeof hub.downloadFileToCacheDir).toBe('function');
    expect(typeof hub.modelInfo).toBe('function');
  });
});

describe('resolveModel offline', () => {
  test('a local directory is returned as is; a file or a non-repo path is an error', async () => {
    const d = fs.mkdtempSync(path.join(tmp, 'local-'));
    expect(await resolveModel(d)).toBe(d);
    fs.writeFileSync(path.join(d, 'f'), '');
    await expect(resolveModel(path.join(d, 'f'))).rejects.toThrow(`${path.join(d, 'f')}: is a file`);
    await expect(resolveModel(path.join(d, 'nope'))).rejects.toThrow(`${path.join(d, 'nope')}: no such directory, and not a Hugging Face repo id`);
  });
  test("by 'main' (default), by tag, by full commit hash", async () => {
    const cacheDir = fakeCache();
    const opts = { cacheDir, offline: true };
    const main = await resolveModel('owner/name', opts);
    expect(main).toBe(snapshot(cacheDir, MAIN));
    expect(JSON.parse(fs.readFileSync(path.join(main, 'config.json'), 'utf8')).rev).toBe('main');
    expect(await resolveModel('owner/name@v1', opts)).toBe(snapshot(cacheDir, V1));
    expect(await resolveModel('owner/name', { ...opts, revision: 'v1' })).toBe(snapshot(cacheDir, V1));
    expect(await resolveModel(`owner/name@${MAIN}`, opts)).toBe(snapshot(cacheDir, MAIN));
    expect(await resolveModel('owner/name', { ...opts, files: ['config.json', 'sub/model.safetensors'] })).toBe(snapshot(cacheDir, MAIN));
  });
  test('HF_HUB_OFFLINE=1 and HF_HUB_CACHE are honoured', async () => {
    const cacheDir = fakeCache();
    process.env.HF_HUB_CACHE = cacheDir;
    process.env.HF_HUB_OFFLINE = '1';
    const { f, calls } = failingFetch();
    expect(await resolveModel('owner/name@v1', { fetch: f })).toBe(snapshot(cacheDir, V1));
    await expect(resolveModel('owner/other', { fetch: f })).rejects.toThrow(/^owner\/other@main: not found in the Hugging Face cache .* \(offline mode/);
    expect(calls).toEqual([]);
  });
  test('one-line errors naming repo and revision when not cached', async () => {
    const cacheDir = fakeCache();
    const opts = { cacheDir, offline: true };
    const err = async (ref: string, o: object = {}) => {
      try {
        await resolveModel(ref, { ...opts, ...o });
      } catch (e) {
        return (e as Error).message;
      }
      throw new Error('resolved');
    };
    expect(await err('owner/missing')).toBe(
      `owner/missing@main: not found in the Hugging Face cache ${cacheDir} (offline mode: HF_HUB_OFFLINE or offline option)`,
    );
    expect(await err('owner/name@v2')).toMatch(/^owner\/name@v2: not found in the Hugging Face cache/);
    expect(await err(`owner/name@${'b'.repeat(40)}`)).toMatch(new RegExp(`^owner/name@${'b'.repeat(40)}: snapshot b{40} not found`));
    expect(await err('owner/name', { files: ['model.safetensors'] })).toMatch(/^owner\/name@main: model.safetensors not found \(snapshot a{40}\)/);
    // A snapshot symlink whose blob is gone counts as missing.
    expect(await err('owner/name', { files: ['broken.bin'] })).toMatch(/broken.bin not found/);
    expect(await err('owner/name@v1', { revision: 'main' })).toBe("owner/name@v1: revision 'v1' conflicts with the revision option 'main'");
    expect(await err('owner/name', { revision: '../../x' })).toBe('owner/name@../../x: invalid revision');
    for (const m of [await err('owner/missing'), await err('owner/name@v2')]) expect(m).not.toContain('\n');
  });
  test('cachedSnapshot reports what is missing', () => {
    const cacheDir = fakeCache();
    expect(cachedSnapshot(cacheDir, 'owner/name', 'main')).toEqual({ dir: snapshot(cacheDir, MAIN), missing: '' });
    fs.writeFileSync(path.join(cacheDir, 'models--owner--name', 'refs', 'bad'), 'not-a-hash');
    expect(cachedSnapshot(cacheDir, 'owner/name', 'bad').missing).toBe('refs/bad holds no commit hash');
  });
});

describe('resolveModel online, without network', () => {
  test('Hub unreachable: the cache serves; a commit already cached asks nothing', async () => {
    const cacheDir = fakeCache();
    const { f, calls } = failingFetch();
    expect(await resolveModel('owner/name', { cacheDir, fetch: f })).toBe(snapshot(cacheDir, MAIN));
    expect(calls.length).toBe(1); // tried once, then fell back
    expect(calls[0]).toContain('/api/models/owner/name/');
    expect(await resolveModel(`owner/name@${V1}`, { cacheDir, fetch: f, files: ['config.json'] })).toBe(snapshot(cacheDir, V1));
    expect(calls.length).toBe(1);
  });
  test('Hub unreachable and not cached: one-line error with repo, revision and cause', async () => {
    const cacheDir = fakeCache();
    const { f } = failingFetch();
    await expect(resolveModel('owner/absent@dev', { cacheDir, fetch: f })).rejects.toThrow(
      `owner/absent@dev: download failed (fetch failed (no network in tests)) and not found in the Hugging Face cache ${cacheDir}`,
    );
  });
  test('a Hub that never answers is cut off by the timeout', async () => {
    const cacheDir = fakeCache();
    const hang = ((_url: string | URL | Request, init?: RequestInit) =>
      new Promise((_, reject) => init?.signal?.addEventListener('abort', () => reject(init.signal!.reason)))) as typeof fetch;
    const t0 = Date.now();
    await expect(resolveModel('owner/absent', { cacheDir, fetch: hang, timeoutMs: 50 })).rejects.toThrow(/no response from the Hub within 50 ms/);
    expect(Date.now() - t0).toBeLessThan(5000);
  });

  /** An in-process stand-in for the Hub endpoints the library calls (model info, paths-info, tree, resolve). */
  function fakeHub(files: Record<string, string>, commit: string) {
    const requests: string[] = [];
    const f = (async (input: string | URL | Request, init?: RequestInit) => {
      const url = new URL(String(input));
      requests.push(`${init?.method ?? 'GET'} ${url.pathname}`);
      const json = (v: unknown) => new Response(JSON.stringify(v), { headers: { 'Content-Type': 'application/json' } });
      const entry = (p: string) => ({ type: 'file', path: p, oid: `oid-${p.replace(/\W/g, '')}`, size: files[p].length, lastCommit: { id: commit, title: 't', date: '2024-01-01' } });
      let m: RegExpMatchArray | null;
      if (/^\/api\/models\/owner\/name\/revision\//.test(url.pathname)) return json({ _id: 'x', id: 'owner/name', sha: commit, private: false, downloads: 0, likes: 0, tags: [] });
      if (/^\/api\/models\/owner\/name\/paths-info\//.test(url.pathname)) return json(JSON.parse(String(init?.body)).paths.map(entry));
      if (/^\/api\/models\/owner\/name\/tree\//.test(url.pathname)) return json(Object.keys(files).map(entry));
      if ((m = url.pathname.match(/^\/owner\/name\/resolve\/([^/]+)\/(.+)$/))) {
        const body = Buffer.from(files[decodeURIComponent(m[2])]);
        const range = new Headers(init?.headers).get('Range')?.match(/bytes=(\d+)-(\d+)/);
        const headers = { ETag: `"oid-${m[2].replace(/\W/g, '')}"`, 'Content-Range': '' };
        if (range) {
          const [a, z] = [Number(range[1]), Math.min(Number(range[2]), body.length - 1)];
          headers['Content-Range'] = `bytes ${a}-${z}/${body.length}`;
          return new Response(body.subarray(a, z + 1), { status: 206, headers });
        }
        return new Response(body, { headers: { ETag: headers.ETag } });
      }
      return new Response('not found', { status: 404 });
    }) as typeof fetch;
    return { f, requests };
  }

  test('downloads selected files into refs/ + snapshots/<commit>, then resolves offline', async () => {
    const cacheDir = fs.mkdtempSync(path.join(tmp, 'empty-'));
    const hub = fakeHub({ 'config.json': '{"a":1}', 'model.safetensors': 'W' }, MAIN);
    const debug = jest.spyOn(console, 'debug').mockImplementation(() => {});
    try {
      const dir = await resolveModel('owner/name', { cacheDir, fetch: hub.f, files: ['config.json'] });
      expect(dir).toBe(snapshot(cacheDir, MAIN));
      expect(fs.readFileSync(path.join(dir, 'config.json'), 'utf8')).toBe('{"a":1}');
      expect(fs.lstatSync(path.join(dir, 'config.json')).isSymbolicLink()).toBe(true);
      expect(fs.existsSync(path.join(dir, 'model.safetensors'))).toBe(false);
      expect(fs.readFileSync(path.join(cacheDir, 'models--owner--name', 'refs', 'main'), 'utf8')).toBe(MAIN);
      expect(await resolveModel('owner/name', { cacheDir, offline: true, files: ['config.json'] })).toBe(dir);
      // Whole snapshot (snapshotDownload): the remaining file arrives in the same snapshot.
      expect(await resolveModel('owner/name', { cacheDir, fetch: hub.f })).toBe(dir);
      expect(fs.readFileSync(path.join(dir, 'model.safetensors'), 'utf8')).toBe('W');
    } finally {
      debug.mockRestore();
    }
    expect(hub.requests.every((r) => !r.includes('..'))).toBe(true);
  });
});
