import { ChildProcess, spawn } from 'child_process';
import * as fs from 'fs';
import * as os from 'os';
import * as path from 'path';
import { BUNDLED_CHECKPOINT } from '../bundled';
import { cachedExport, checkpointKey, sweepExportCache } from './export-cache';
import { OnnxScorer } from './onnx-scorer';

/*
 * The export cache with real processes: two `cachedExport`s of one checkpoint started together, an
 * export killed half-way, and a checkpoint edited in place without changing its size or mtime. Each
 * process runs this package's sources through src/testing/ts-require.js (esbuild), as the cache's own
 * export worker does under jest.
 */

const TS_REQUIRE = path.resolve(__dirname, '..', 'testing', 'ts-require.js');
const CACHE_MODULE = path.resolve(__dirname, 'export-cache.ts');

let tmp: string;
beforeAll(() => (tmp = fs.mkdtempSync(path.join(os.tmpdir(), 'rahf-export-cache-'))));
afterAll(() => fs.rmSync(tmp, { recursive: true, force: true }));

function checkpointCopy(name: string): string {
  const dir = path.join(tmp, name);
  fs.cpSync(BUNDLED_CHECKPOINT, dir, { recursive: true, preserveTimestamps: true });
  return dir;
}

/** A node process that calls cachedExport and prints the entry's folder; stderr collects its log. */
function exporter(checkpoint: string, cacheDir: string): { child: ChildProcess; done: Promise<{ code: number | null; stdout: string; stderr: string }> } {
  const script = `
    const { cachedExport } = require(${JSON.stringify(CACHE_MODULE)});
    cachedExport(${JSON.stringify(checkpoint)}, { cacheDir: ${JSON.stringify(cacheDir)}, pollMs: 100, log: (l) => process.stderr.write(l + '\\n') })
      .then((d) => process.stdout.write(d + '\\n'), (e) => { process.stderr.write('FAILED ' + e.message + '\\n'); process.exitCode = 1; });`;
  const child = spawn(process.execPath, ['-r', TS_REQUIRE, '-e', script], { stdio: ['ignore', 'pipe', 'pipe'] });
  let stdout = '';
  let stderr = '';
  child.stdout!.on('data', (d) => (stdout += d));
  child.stderr!.on('data', (d) => (stderr += d));
  const done = new Promise<{ code: number | null; stdout: string; stderr: string }>((resolve) => child.on('close', (code) => resolve({ code, stdout, stderr })));
  return { child, done };
}

const hidden = (dir: string) => fs.readdirSync(dir).filter((f) => f.startsWith('.tmp-') || f.startsWith('.lock-'));
const entries = (dir: string) => fs.readdirSync(dir).filter((f) => !f.startsWith('.'));

test('two processes exporting the same checkpoint at once: one export, one whole entry, nothing left over', async () => {
  const ckpt = checkpointCopy('race');
  const cacheDir = path.join(tmp, 'cache-race');
  const [a, b] = [exporter(ckpt, cacheDir), exporter(ckpt, cacheDir)];
  const [ra, rb] = await Promise.all([a.done, b.done]);
  expect([ra.code, rb.code]).toEqual([0, 0]);
  const key = checkpointKey(ckpt);
  expect(ra.stdout.trim()).toBe(path.join(cacheDir, key));
  expect(rb.stdout.trim()).toBe(path.join(cacheDir, key));
  // Exactly one of them exported; the other waited for it (or found it done).
  const exported = [ra, rb].filter((r) => /exporting .* into the ONNX cache/.test(r.stderr));
  expect(exported).toHaveLength(1);
  expect(entries(cacheDir)).toEqual([key]);
  expect(hidden(cacheDir)).toEqual([]);
  const scorer = await OnnxScorer.create(path.join(cacheDir, key), { threads: 1 });
  try {
    const [fb] = await scorer.score(new Float32Array(64 * 64 * 3).fill(0.5), ['a red cube'], { size: [64, 64] });
    expect(Number.isFinite(fb.scores.overall)).toBe(true);
  } finally {
    await scorer.dispose();
  }
});

test('an export killed half-way leaves nothing a later lookup trusts, and its leftovers are swept', async () => {
  const ckpt = checkpointCopy('killed');
  const cacheDir = path.join(tmp, 'cache-killed');
  fs.mkdirSync(cacheDir);
  const { child, done } = exporter(ckpt, cacheDir);
  // Kill the exporting process as soon as its temporary folder exists (the worker it forked then stops too).
  const t0 = Date.now();
  while (!fs.readdirSync(cacheDir).some((f) => f.startsWith('.tmp-'))) {
    if (Date.now() - t0 > 60_000) throw new Error('the export never started');
    await new Promise((r) => setTimeout(r, 10));
  }
  child.kill('SIGKILL');
  await done;
  expect(entries(cacheDir)).toEqual([]);
  expect(hidden(cacheDir).some((f) => f.startsWith('.lock-'))).toBe(true); // its owner is dead, though

  const lines: string[] = [];
  const dir = await cachedExport(ckpt, { cacheDir, log: (l) => lines.push(l) });
  expect(dir).toBe(path.join(cacheDir, checkpointKey(ckpt)));
  expect(lines.filter((l) => l.startsWith('exporting'))).toHaveLength(1);
  expect(lines.some((l) => l.startsWith('waiting'))).toBe(false); // a dead owner is not waited for
  // The orphaned worker removes its own folder when it notices; the sweep removes it otherwise.
  for (let i = 0; i < 100 && hidden(cacheDir).length > 0; i++) {
    sweepExportCache(cacheDir);
    await new Promise((r) => setTimeout(r, 50));
  }
  expect(hidden(cacheDir)).toEqual([]);
  expect(entries(cacheDir)).toEqual([path.basename(dir)]);
});

test('keyed by content: a copy reuses the export, an edit in place that keeps size and mtime gets a new one', async () => {
  const ckpt = checkpointCopy('edited');
  const cacheDir = path.join(tmp, 'cache-edited');
  const lines: string[] = [];
  const log = (l: string) => lines.push(l);
  const exports = () => lines.filter((l) => l.startsWith('exporting')).length;
  const first = await cachedExport(ckpt, { cacheDir, log });
  expect(exports()).toBe(1);
  expect(fs.readdirSync(path.join(cacheDir, '.digests'))).toHaveLength(5); // one remembered digest per file

  // Elsewhere, and touched: the same bytes, the same entry (hashed once more, not exported).
  const copy = checkpointCopy('edited-copy');
  fs.utimesSync(path.join(copy, 'config.json'), new Date(), new Date(Date.now() + 60_000));
  expect(await cachedExport(copy, { cacheDir, log })).toBe(first);
  expect(exports()).toBe(1);
  // A second lookup hashes nothing: the digests are remembered.
  lines.length = 0;
  const t0 = Date.now();
  expect(await cachedExport(copy, { cacheDir, log })).toBe(first);
  expect(lines).toEqual([]);
  expect(Date.now() - t0).toBeLessThan(1000);

  // One weight changed in place; size and mtime restored (as cp -p, rsync -t, or a re-save in the same second).
  const weights = path.join(ckpt, 'model.safetensors');
  const { atime, mtime, size } = fs.statSync(weights);
  const fd = fs.openSync(weights, 'r+');
  const b = Buffer.alloc(1);
  fs.readSync(fd, b, 0, 1, size - 3);
  b[0] ^= 0x40;
  fs.writeSync(fd, b, 0, 1, size - 3);
  fs.closeSync(fd);
  fs.utimesSync(weights, atime, mtime);
  expect(fs.statSync(weights).size).toBe(size);
  const second = await cachedExport(ckpt, { cacheDir, log });
  expect(second).not.toBe(first);
  expect(lines.filter((l) => l.startsWith('exporting'))).toHaveLength(1);
  expect(entries(cacheDir).sort()).toEqual([path.basename(first), path.basename(second)].sort());
});

test('errors of the export process reach the caller as one line naming the file', async () => {
  const ckpt = checkpointCopy('broken');
  fs.writeFileSync(path.join(ckpt, 'tokenizer.json'), '<html>');
  const cacheDir = path.join(tmp, 'cache-broken');
  const lines: string[] = [];
  await expect(cachedExport(ckpt, { cacheDir, log: (l) => lines.push(l) })).rejects.toThrow(new RegExp(`${path.join(ckpt, 'tokenizer.json')}.*JSON`));
  expect(lines.filter((l) => l.startsWith('exporting'))).toEqual([]); // nothing announced for a checkpoint that does not load
  expect(entries(cacheDir)).toEqual([]);
  expect(hidden(cacheDir)).toEqual([]);
});
