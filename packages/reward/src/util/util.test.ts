import * as fs from 'fs';
import * as os from 'os';
import * as path from 'path';
import { writeFileAtomic } from './atomic';
import { formatDuration, Progress } from './progress';
import { inOrderAhead } from './ahead';
import { allInOrder } from './settle';

describe('writeFileAtomic', () => {
  let dir: string;
  beforeEach(() => (dir = fs.mkdtempSync(path.join(os.tmpdir(), 'atomic-'))));
  afterEach(() => fs.rmSync(dir, { recursive: true, force: true }));

  test('replaces the content and leaves no temp file behind', () => {
    const f = path.join(dir, 'sub', 'a.json');
    writeFileAtomic(f, 'old');
    writeFileAtomic(f, new Uint8Array([110, 101, 119]));
    expect(fs.readFileSync(f, 'utf8')).toBe('new');
    expect(fs.readdirSync(path.dirname(f))).toEqual(['a.json']);
  });

  test('a failed write keeps the old file intact', () => {
    const f = path.join(dir, 'a.txt');
    writeFileAtomic(f, 'precious');
    fs.mkdirSync(path.join(dir, 'blocker'));
    // renaming onto a non-empty directory fails: the target must survive and no temp file remain
    fs.writeFileSync(path.join(dir, 'blocker', 'x'), '');
    expect(() => writeFileAtomic(path.join(dir, 'blocker'), 'data')).toThrow();
    expect(fs.readFileSync(f, 'utf8')).toBe('precious');
    expect(fs.readdirSync(dir).sort()).toEqual(['a.txt', 'blocker']);
  });
});

describe('Progress', () => {
  test('line shows count, percentage, rate and ETA', () => {
    const p = new Progress(10, 'score', { enabled: false, unit: 'img' });
    p.tick(5);
    expect(p.line()).toMatch(/^score 5\/10 \(50%\) [\d.]+ img\/s elapsed \d+s eta (\d+s|\?)$/);
  });
  test('durations', () => {
    expect(formatDuration(5)).toBe('5s');
    expect(formatDuration(125)).toBe('2m05s');
    expect(formatDuration(3720)).toBe('1h02m');
    expect(formatDuration(NaN)).toBe('?');
  });
});

describe('inOrderAhead', () => {
  async function* items(n: number) {
    for (let i = 0; i < n; i++) yield i;
  }
  const delay = (ms: number) => new Promise((r) => setTimeout(r, ms));

  test('yields in source order while keeping at most `ahead` running', async () => {
    let running = 0;
    let peak = 0;
    const out: number[] = [];
    const start = async (i: number) => {
      running++;
      peak = Math.max(peak, running);
      await delay((7 - i) % 4); // later items often finish first
      running--;
      return i * 10;
    };
    for await (const v of inOrderAhead(items(8), start, 3)) out.push(v);
    expect(out).toEqual([0, 10, 20, 30, 40, 50, 60, 70]);
    expect(peak).toBe(3);
  });

  test('a failure surfaces at its turn, after the results before it', async () => {
    const out: number[] = [];
    const start = async (i: number) => {
      if (i === 2) throw new Error('item 2 is broken');
      await delay(5);
      return i;
    };
    await expect(
      (async () => {
        for await (const v of inOrderAhead(items(5), start, 4)) out.push(v);
      })(),
    ).rejects.toThrow('item 2 is broken');
    expect(out).toEqual([0, 1]);
  });
});

test('allInOrder: the first rejection in array order, whichever settles first; values in order otherwise', async () => {
  const later = (ms: number, v: unknown, fail = false) => new Promise((res, rej) => setTimeout(() => (fail ? rej(new Error(String(v))) : res(v)), ms));
  await expect(allInOrder([later(30, 'first', true), later(1, 'second', true)])).rejects.toThrow('first');
  await expect(allInOrder([later(5, 'a'), later(1, 'b')])).resolves.toEqual(['a', 'b']);
});
