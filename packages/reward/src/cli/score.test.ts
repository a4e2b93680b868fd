import * as fs from 'fs';
import * as os from 'os';
import * as path from 'path';
import sharp from 'sharp';
import { currentBackend } from '../backend';
import { UserError } from '../errors';
import { readHeatmapPng16 } from '../heatmap-image';
import { SCORE_NAMES } from '../rahf/config';
import { CliIO } from './command';
import { runScore, ScoreOptions } from './score';

/*
 * `rahf score` on a folder with the bundled checkpoint through both engines: the same scores (1e-4),
 * the same misaligned words and the same heatmaps (1e-4, read back from the 16-bit PNGs); int8 within
 * its measured cost; the progress line and the closing summary; the engine options' errors.
 */

let tmp: string;
let imgs: string;
const PROMPT = 'a red car next to a blue ball';

beforeAll(async () => {
  tmp = fs.mkdtempSync(path.join(os.tmpdir(), 'rahf-score-'));
  process.env.RAHF_CACHE_DIR = path.join(tmp, 'cache');
  imgs = path.join(tmp, 'imgs');
  fs.mkdirSync(imgs);
  // Ten textured images of several sizes and formats (flat colours would give every image the same maps).
  for (let i = 0; i < 10; i++) {
    const [w, h] = [[96, 80], [128, 128], [200, 150], [150, 200]][i % 4];
    const px = Buffer.alloc(w * h * 3);
    for (let j = 0; j < px.length; j++) px[j] = (Math.sin(j * 0.013 * (i + 1)) * 100 + ((j * 7 + i * 31) % 90) + (j % 3) * 40) & 255;
    const img = sharp(px, { raw: { width: w, height: h, channels: 3 } });
    await (i % 3 === 2 ? img.jpeg({ quality: 95 }) : img.png()).toFile(path.join(imgs, `img-${i}.${i % 3 === 2 ? 'jpg' : 'png'}`));
  }
});
afterAll(() => {
  delete process.env.RAHF_CACHE_DIR;
  fs.rmSync(tmp, { recursive: true, force: true });
});

function capture(): CliIO & { out: string[]; err: string[] } {
  const out: string[] = [];
  const err: string[] = [];
  return { out, err, stdout: (t) => out.push(t), stderr: (l) => err.push(l) };
}

interface Line {
  file: string;
  scores: Record<string, number>;
  misaligned: string[];
  heatmaps: Record<string, { file: string; scale: number }>;
}

async function score(opts: Partial<ScoreOptions>): Promise<{ lines: Line[]; err: string[] }> {
  const io = capture();
  expect(await runScore({ paths: [imgs], prompt: PROMPT, threads: 1, ...opts }, io)).toBe(0);
  return { lines: io.out.map((l) => JSON.parse(l) as Line), err: io.err };
}

const maxDiff = (a: ArrayLike<number>, b: ArrayLike<number>) => Math.max(...Array.from(a, (v, i) => Math.abs(v - b[i])));

test('the same folder through both engines: scores within 1e-4, the same misaligned words', async () => {
  const ort = await score({ engine: 'ort' });
  // --engine ort never brought tfjs up in this process: the graphs came from the export cache.
  expect(currentBackend()).toBeUndefined();
  expect(ort.err).toContainEqual(expect.stringMatching(/^rahf: exporting .* into the ONNX cache/));
  expect(ort.err).toContainEqual(expect.stringMatching(/^rahf: engine ort \(onnxruntime-node, 1 thread of \d+ CPUs\)$/));
  // Folders get a progress line (count, rate, ETA) and a closing summary.
  expect(ort.err).toContainEqual(expect.stringMatching(/^score 10\/10 \(100%\) [\d.]+ img\/s elapsed \S+ eta \S+$/));
  expect(ort.err).toContainEqual(expect.stringMatching(/^rahf: scored 10 of 10 image\(s\) in [\d.]+ s, [\d.]+ images\/s; opened in [\d.]+ s; peak RSS \d+ MB; engine ort/));

  const tfjs = await score({ engine: 'tfjs' });
  expect(tfjs.err).toContainEqual(expect.stringMatching(/^rahf: engine tfjs \(\w+\)$/));
  expect(ort.lines).toHaveLength(10);
  expect(tfjs.lines.map((l) => l.file)).toEqual(ort.lines.map((l) => l.file));
  for (const t of SCORE_NAMES) expect(maxDiff(ort.lines.map((l) => l.scores[t]), tfjs.lines.map((l) => l.scores[t]))).toBeLessThan(1e-4);
  expect(ort.lines.map((l) => l.misaligned)).toEqual(tfjs.lines.map((l) => l.misaligned));
  expect(ort.lines.some((l) => l.misaligned.length > 0)).toBe(true); // the words compared are not all empty
});

test('heatmaps through both engines agree within 1e-4 (read back from the 16-bit PNGs)', async () => {
  // Two images: each writes two overlay figures, which are slow under jest (SVG text through librsvg).
  const paths = [path.join(imgs, 'img-1.png'), path.join(imgs, 'img-2.jpg')];
  const ort = await score({ paths, engine: 'ort', out: path.join(tmp, 'out-ort') });
  const tfjs = await score({ paths, engine: 'tfjs', out: path.join(tmp, 'out-tfjs') });
  for (let i = 0; i < paths.length; i++) {
    for (const kind of ['implausibility', 'misalignment']) {
      const [a, b] = [ort.lines[i].heatmaps[kind], tfjs.lines[i].heatmaps[kind]];
      const [ma, mb] = [await readHeatmapPng16(a.file, a.scale), await readHeatmapPng16(b.file, b.scale)];
      expect([ma.width, ma.height]).toEqual([mb.width, mb.height]);
      expect(Math.max(...ma.data)).toBeGreaterThan(0);
      expect(maxDiff(ma.data, mb.data)).toBeLessThan(1e-4);
    }
  }
});

test('--int8: the quantised graphs, scores within their measured cost of fp32', async () => {
  const fp32 = await score({ engine: 'ort', keywords: false });
  const int8 = await score({ int8: true, keywords: false });
  expect(int8.err).toContainEqual(expect.stringMatching(/^rahf: engine ort int8 /));
  // Measured on this checkpoint and folder: max |Δ| 9.4e-3 (the tiny model's 64-wide layers quantise coarsely).
  for (const t of SCORE_NAMES) expect(maxDiff(int8.lines.map((l) => l.scores[t]), fp32.lines.map((l) => l.scores[t]))).toBeLessThan(3e-2);
  expect(fs.readdirSync(path.join(tmp, 'cache')).filter((f) => !f.startsWith('.'))).toHaveLength(2); // fp32 and int8 entries
});

test('engine options are checked before any work', async () => {
  const bad = (o: Partial<ScoreOptions>) => runScore({ paths: [imgs], prompt: PROMPT, ...o }, capture());
  await expect(bad({ engine: 'gpu' })).rejects.toThrow(new UserError('--engine must be one of auto, ort, tfjs, got "gpu"'));
  await expect(bad({ engine: 'tfjs', int8: true })).rejects.toThrow(/^--int8: the quantised graphs run on onnxruntime only/);
  await expect(bad({ threads: 0 })).rejects.toThrow('--threads must be an integer >= 1, got 0');
  await expect(bad({ batchSize: 1.5 })).rejects.toThrow('--batch-size must be an integer >= 1, got 1.5');
});
