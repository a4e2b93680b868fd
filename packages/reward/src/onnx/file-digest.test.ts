import * as crypto from 'crypto';
import * as fs from 'fs';
import * as os from 'os';
import * as path from 'path';
import { DigestStats, fileDigest, hubBlobDigest } from './file-digest';

let tmp: string;
beforeAll(() => (tmp = fs.mkdtempSync(path.join(os.tmpdir(), 'rahf-digest-'))));
afterAll(() => fs.rmSync(tmp, { recursive: true, force: true }));

const sha = (b: string | Buffer) => crypto.createHash('sha256').update(b).digest('hex');

test('content digests are remembered per file version; an edit that restores size and mtime is still seen', () => {
  const memo = path.join(tmp, 'memo');
  const f = path.join(tmp, 'weights.bin');
  fs.writeFileSync(f, 'aaaa-weights');
  const stats: DigestStats = { hashed: 0, hashedBytes: 0 };
  expect(fileDigest(f, memo, stats)).toBe(sha('aaaa-weights'));
  expect(fileDigest(f, memo, stats)).toBe(sha('aaaa-weights'));
  expect(stats).toEqual({ hashed: 1, hashedBytes: 12 }); // the second answer came from the memo

  // Same size, same mtime (as cp -p or a re-save of one architecture within the mtime granularity): the
  // ctime moved, so the memo is not trusted and the new content gets its own digest.
  const { atime, mtime } = fs.statSync(f);
  fs.writeFileSync(f, 'bbbb-weights');
  fs.utimesSync(f, atime, mtime);
  expect(fs.statSync(f).mtimeMs).toBeCloseTo(mtime.getTime(), 0); // float ms: 1796662580259.999
  expect(fileDigest(f, memo, stats)).toBe(sha('bbbb-weights'));
  expect(stats.hashed).toBe(2);

  // A touch changes nothing the digest depends on: hashed again, same digest.
  fs.utimesSync(f, new Date(), new Date(Date.now() + 5000));
  expect(fileDigest(f, memo, stats)).toBe(sha('bbbb-weights'));
  expect(stats.hashed).toBe(3);

  // A torn memo is only a lost shortcut.
  for (const m of fs.readdirSync(memo)) fs.writeFileSync(path.join(memo, m), '{"file": ');
  expect(fileDigest(f, memo, stats)).toBe(sha('bbbb-weights'));
});

test('files of a Hugging Face hub cache are named by their sha256: no hashing', () => {
  const repo = path.join(tmp, 'hub', 'models--someone--rahf');
  const content = Buffer.from('safetensors bytes');
  const blob = path.join(repo, 'blobs', sha(content));
  fs.mkdirSync(path.dirname(blob), { recursive: true });
  fs.writeFileSync(blob, content);
  const snap = path.join(repo, 'snapshots', 'abc123');
  fs.mkdirSync(snap, { recursive: true });
  fs.symlinkSync(path.relative(snap, blob), path.join(snap, 'model.safetensors'));
  const stats: DigestStats = { hashed: 0, hashedBytes: 0 };
  expect(hubBlobDigest(path.join(snap, 'model.safetensors'))).toBe(sha(content));
  expect(fileDigest(path.join(snap, 'model.safetensors'), path.join(tmp, 'memo2'), stats)).toBe(sha(content));
  expect(stats.hashed).toBe(0);
  // Git blobs of small files are named by their sha1 (40 hex digits): not a sha256 name, so hashed.
  const small = path.join(repo, 'blobs', 'a'.repeat(40));
  fs.writeFileSync(small, '{}');
  fs.symlinkSync(path.relative(snap, small), path.join(snap, 'config.json'));
  expect(hubBlobDigest(path.join(snap, 'config.json'))).toBeUndefined();
  expect(fileDigest(path.join(snap, 'config.json'), undefined, stats)).toBe(sha('{}'));
  expect(stats.hashed).toBe(1);
});
