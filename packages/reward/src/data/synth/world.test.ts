import * as fs from 'fs';
import * as os from 'os';
import * as path from 'path';
import { promptWords } from '../../rahf/keywords';
import { consolidateAll, consolidateImage, parseRawAnnotations } from '../consolidate';
import type { GrayMap, RichHFRecord } from '../record';
import { readRichHFAll } from '../richhf';
import { generateExample, SPLITS, writeSynthWorld, type SynthExample } from './world';

const SIZE = 64;
let root: string;
const dir = (name: string) => path.join(root, name);

function listFiles(d: string): string[] {
  return fs
    .readdirSync(d, { withFileTypes: true })
    .flatMap((e) => (e.isDirectory() ? listFiles(path.join(d, e.name)).map((f) => path.join(e.name, f)) : [e.name]))
    .sort();
}

beforeAll(async () => {
  root = fs.mkdtempSync(path.join(os.tmpdir(), 'synth-world-'));
  for (const [name, seed] of [['a', 7], ['b', 7], ['c', 8]] as const) {
    await writeSynthWorld({ out: dir(name), n: 20, seed, size: SIZE, progress: false });
  }
});
afterAll(() => fs.rmSync(root, { recursive: true, force: true }));

describe('writeSynthWorld', () => {
  test('writes the documented layout and nothing else', () => {
    const files = listFiles(dir('a'));
    const images = files.filter((f) => f.startsWith('images'));
    expect(images).toHaveLength(20);
    expect(files.filter((f) => !f.startsWith('images'))).toEqual(
      ['captions.jsonl', 'dev.tfrecord', 'raw_annotations.jsonl', 'test.tfrecord', 'train.tfrecord', 'truth.jsonl', 'world.json'].sort(),
    );
  });

  test('same seed → byte-identical files; another seed → different data', () => {
    const files = listFiles(dir('a'));
    expect(listFiles(dir('b'))).toEqual(files);
    for (const f of files) expect(fs.readFileSync(path.join(dir('b'), f)).equals(fs.readFileSync(path.join(dir('a'), f)))).toBe(true);
    expect(fs.readFileSync(path.join(dir('c'), 'train.tfrecord')).equals(fs.readFileSync(path.join(dir('a'), 'train.tfrecord')))).toBe(false);
    const img = (d: string, seed: number) => fs.readFileSync(path.join(dir(d), 'images', `synth-${seed}-000000.png`));
    expect(img('c', 8).equals(img('a', 7))).toBe(false);
  });

  test('records read back in the RichHF schema; one label per prompt word; splits ≈ 80/10/10', async () => {
    const captions = fs.readFileSync(path.join(dir('a'), 'captions.jsonl'), 'utf8').trim().split('\n').map((l) => JSON.parse(l));
    const byUid = new Map(captions.map((c) => [c.uid, c]));
    const counts: Record<string, number> = {};
    for (const split of SPLITS) {
      const { records, warnings } = await readRichHFAll(path.join(dir('a'), `${split}.tfrecord`), {
        prompts: new Map(captions.map((c) => [c.uid, c.caption])),
      });
      expect(warnings).toEqual([]);
      counts[split] = records.length;
      for (const r of records) {
        const c = byUid.get(r.filename.replace(/\.png$/, ''));
        expect(c.split).toBe(split);
        expect(r.promptMisalignmentLabel.split(' ')).toHaveLength(promptWords(c.caption).length);
        expect([r.artifactMap.width, r.artifactMap.height]).toEqual([SIZE, SIZE]);
        expect(fs.existsSync(path.join(dir('a'), 'images', r.filename))).toBe(true);
      }
    }
    expect(counts).toEqual({ train: 16, dev: 2, test: 2 });
  });

  test('re-consolidating raw_annotations.jsonl reproduces the records', async () => {
    const file = path.join(dir('a'), 'raw_annotations.jsonl');
    const again = new Map(consolidateAll(parseRawAnnotations(fs.readFileSync(file, 'utf8'), file), { mapSize: SIZE }).map((c) => [c.record.filename, c.record]));
    expect(again.size).toBe(20);
    for (const split of SPLITS) {
      for (const r of (await readRichHFAll(path.join(dir('a'), `${split}.tfrecord`))).records) {
        const c = again.get(r.filename)!;
        expect(c.promptMisalignmentLabel).toBe(r.promptMisalignmentLabel);
        expect(Buffer.from(c.artifactMap.data).equals(Buffer.from(r.artifactMap.data))).toBe(true);
        expect(Buffer.from(c.misalignmentMap.data).equals(Buffer.from(r.misalignmentMap.data))).toBe(true);
        expect(c.overallScore).toBeCloseTo(r.overallScore, 6);
      }
    }
  });
});

// ---------------------------------------------------------------------------------------------------

type Box = [number, number, number, number];

/** Map pixels > 0 that lie outside every box grown by `pad`, and whether each box holds a nonzero pixel. */
function mapVsBoxes(m: GrayMap, boxes: Box[], pad: number): { strayMass: number; mass: number; hit: boolean[] } {
  let strayMass = 0;
  let mass = 0;
  const hit = boxes.map(() => false);
  for (let y = 0; y < m.height; y++) {
    for (let x = 0; x < m.width; x++) {
      const v = m.data[y * m.width + x];
      if (v === 0) continue;
      mass += v;
      let near = false;
      boxes.forEach((b, k) => {
        if (x >= b[0] - pad && x < b[2] + pad && y >= b[1] - pad && y < b[3] + pad) near = true;
        if (x >= b[0] && x < b[2] && y >= b[1] && y < b[3]) hit[k] = true;
      });
      if (!near) strayMass += v;
    }
  }
  return { strayMass, mass, hit };
}

const misBoxes = (ex: SynthExample) => ex.truth.misalignments.flatMap((m) => m.boxes);

describe('ground truth in the consolidated maps', () => {
  const pad = Math.ceil(SIZE / 20) + 1; // disk radius (height/20) plus a pixel

  test('perfect annotators: maps are nonzero exactly around the injected defects; labels and scores exact', () => {
    let withArtifacts = 0;
    for (let i = 0; i < 40; i++) {
      const ex = generateExample({ seed: 9, size: SIZE, noise: 0 }, i);
      const r: RichHFRecord = consolidateImage(ex.raw, { mapSize: SIZE }).record;
      for (const [map, boxes] of [[r.artifactMap, ex.truth.artifacts.map((a) => a.box)], [r.misalignmentMap, misBoxes(ex)]] as const) {
        const { strayMass, mass, hit } = mapVsBoxes(map, boxes as Box[], pad);
        expect(strayMass).toBe(0);
        expect(hit.every(Boolean)).toBe(true);
        expect(mass > 0).toBe(boxes.length > 0);
      }
      withArtifacts += ex.truth.artifacts.length > 0 ? 1 : 0;
      expect(r.promptMisalignmentLabel).toBe(ex.truth.labels.join(' '));
      expect(r.artifactScore).toBeCloseTo(Math.round(4 * ex.truth.latent.plausibility) / 4, 6);
      expect(r.misalignmentScore).toBeCloseTo(Math.round(4 * ex.truth.latent.alignment) / 4, 6);
    }
    expect(withArtifacts).toBeGreaterThan(15);
  });

  test('noisy annotators: most map mass lies on the defects and most defects are found', () => {
    let stray = 0;
    let mass = 0;
    let found = 0;
    let boxes = 0;
    for (let i = 0; i < 40; i++) {
      const ex = generateExample({ seed: 10, size: SIZE }, i);
      const r = consolidateImage(ex.raw, { mapSize: SIZE }).record;
      const a = mapVsBoxes(r.artifactMap, ex.truth.artifacts.map((x) => x.box), pad);
      stray += a.strayMass;
      mass += a.mass;
      found += a.hit.filter(Boolean).length;
      boxes += a.hit.length;
    }
    expect(stray / mass).toBeLessThan(0.15);
    expect(found / boxes).toBeGreaterThan(0.8);
  });
});

describe('difficulty', () => {
  const N = 150;
  const examples = [...Array(N).keys()].map((i) => generateExample({ seed: 21, size: SIZE }, i));
  const records = examples.map((ex) => consolidateImage(ex.raw, { mapSize: SIZE }).record);
  const std = (v: number[]) => {
    const m = v.reduce((s, x) => s + x, 0) / v.length;
    return Math.sqrt(v.reduce((s, x) => s + (x - m) ** 2, 0) / v.length);
  };

  test('a constant predictor is poor: every consolidated score varies substantially', () => {
    for (const k of ['artifactScore', 'misalignmentScore', 'aestheticsScore', 'overallScore'] as const) {
      expect(std(records.map((r) => r[k]))).toBeGreaterThan(0.15);
    }
  });

  test('≈30 % clean images for each defect kind, and the two kinds are independent', () => {
    const clean = examples.filter((e) => e.truth.artifacts.length === 0).length / N;
    const aligned = examples.filter((e) => e.truth.misalignments.length === 0).length / N;
    for (const f of [clean, aligned]) {
      expect(f).toBeGreaterThan(0.18);
      expect(f).toBeLessThan(0.42);
    }
    const p = examples.map((e) => e.truth.latent.plausibility);
    const a = examples.map((e) => e.truth.latent.alignment);
    const mp = p.reduce((s, x) => s + x, 0) / N;
    const ma = a.reduce((s, x) => s + x, 0) / N;
    const corr = p.reduce((s, x, i) => s + (x - mp) * (a[i] - ma), 0) / (N * std(p) * std(a));
    expect(Math.abs(corr)).toBeLessThan(0.3);
  });
});
