import { spawnSync } from 'child_process';
import * as fs from 'fs';
import * as os from 'os';
import * as path from 'path';
import { ExportLock, STALE_MS, processStart } from './export-lock';

let tmp: string;
beforeAll(() => (tmp = fs.mkdtempSync(path.join(os.tmpdir(), 'rahf-lock-'))));
afterAll(() => fs.rmSync(tmp, { recursive: true, force: true }));

const write = (file: string, owner: object) => fs.writeFileSync(file, JSON.stringify(owner));

test('one holder at a time; released locks are free again', () => {
  const file = path.join(tmp, 'a.lock');
  const a = ExportLock.tryAcquire(file)!;
  expect(a).toBeDefined();
  expect(JSON.parse(fs.readFileSync(file, 'utf8'))).toMatchObject({ pid: process.pid, host: os.hostname() });
  expect(ExportLock.tryAcquire(file)).toBeUndefined(); // this process is alive: the lock holds
  a.release();
  expect(fs.existsSync(file)).toBe(false);
  const b = ExportLock.tryAcquire(file)!;
  expect(b).toBeDefined();
  b.release();
});

test('locks of dead owners are broken: an exited pid, a reused pid, another host silent for too long', () => {
  const file = path.join(tmp, 'b.lock');
  // A process that ran and ended: its pid is free.
  const dead = spawnSync(process.execPath, ['-e', 'process.stdout.write(String(process.pid))'], { encoding: 'utf8' });
  write(file, { pid: Number(dead.stdout), host: os.hostname(), since: Date.now() });
  const a = ExportLock.tryAcquire(file);
  expect(a).toBeDefined();
  a!.release();

  // A live pid that started at another time than the lock says: the pid was reused.
  if (processStart(process.pid) !== undefined) {
    write(file, { pid: process.pid, host: os.hostname(), pidStart: 'not-this-process', since: Date.now() });
    const b = ExportLock.tryAcquire(file);
    expect(b).toBeDefined();
    b!.release();
  }

  // Another host (a shared cache folder): alive while its heartbeat is fresh, dead after STALE_MS.
  write(file, { pid: 1, host: 'another-host', since: Date.now() });
  expect(ExportLock.tryAcquire(file)).toBeUndefined();
  const old = new Date(Date.now() - STALE_MS - 1000);
  fs.utimesSync(file, old, old);
  const c = ExportLock.tryAcquire(file);
  expect(c).toBeDefined();
  // The heartbeat keeps a held lock fresh.
  fs.utimesSync(file, old, old);
  c!.touch();
  expect(Date.now() - fs.statSync(file).mtimeMs).toBeLessThan(STALE_MS);
  c!.release();
});
