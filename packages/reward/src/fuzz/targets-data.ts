import * as path from 'path';
import fc from 'fast-check';
import { consolidateAll, parseRawAnnotations } from '../data/consolidate';
import { imagesFromParquet } from '../data/pickapic';
import type { RichHFRecord } from '../data/record';
import { encodeRichHFExample, readRichHFAll } from '../data/richhf';
import { readTFRecords } from '../data/tfrecord';
import { promptWords } from '../rahf/keywords';
import { readRegularText } from '../io/files';
import { Files, tfrecordBytes, utf8 } from './encode';
import { Target, digestBytes } from './target';

/** Fuzz targets of the data readers: TFRecord, RichHF records, Pick-a-Pic parquet, raw annotations. */

export const tfrecordTarget: Target<Uint8Array[], Uint8Array[]> = {
  name: 'tfrecord',
  json: false,
  integrity: true,
  spec: fc.array(fc.uint8Array({ maxLength: 48 }), { maxLength: 5 }),
  build: async (records) => ({ files: { 'data.tfrecord': tfrecordBytes(records) }, main: 'data.tfrecord' }),
  parse: async (dir, main) => {
    const out: Uint8Array[] = [];
    for await (const r of readTFRecords(path.join(dir, main))) out.push(r.data);
    return out;
  },
  summary: (rs) => rs.map(digestBytes).join(','),
  sameContent: (valid, got) => {
    const known = new Set(valid.map(digestBytes));
    return got.every((r) => known.has(digestBytes(r)));
  },
};

interface RichSpec {
  uid: string;
  scores: number[];
  maps: Array<{ w: number; h: number; seed: number }>;
  words: number;
}

const WORDS = ['a', 'red', 'cat', 'on', 'two', 'dogs', 'in', 'snow'];

const grayData = (w: number, h: number, seed: number) => Uint8Array.from({ length: w * h }, (_, i) => (seed * 31 + i * 17) & 0xff);

function richLine(r: RichHFRecord): string {
  const m = (g: RichHFRecord['artifactMap']) => `${g.width}x${g.height}:${digestBytes(g.data)}`;
  return [r.filename, r.aestheticsScore, r.artifactScore, r.misalignmentScore, r.overallScore, r.promptMisalignmentLabel, m(r.artifactMap), m(r.misalignmentMap)].join('|');
}

export const richhfTarget: Target<RichSpec[], RichHFRecord[]> = {
  name: 'richhf records',
  json: false,
  integrity: true,
  spec: fc.array(
    fc.record({
      uid: fc.stringMatching(/^[0-9a-f]{4,12}$/),
      scores: fc.array(fc.double({ min: 0, max: 1, noNaN: true }), { minLength: 4, maxLength: 4 }),
      maps: fc.array(fc.record({ w: fc.integer({ min: 1, max: 24 }), h: fc.integer({ min: 1, max: 24 }), seed: fc.nat(255) }), { minLength: 2, maxLength: 2 }),
      words: fc.integer({ min: 0, max: 8 }),
    }),
    { minLength: 1, maxLength: 3 },
  ),
  build: async (specs) => {
    const records: Uint8Array[] = [];
    for (const s of specs) {
      const maps = s.maps.map((m) => ({ width: m.w, height: m.h, data: grayData(m.w, m.h, m.seed) }));
      const rec: RichHFRecord = {
        filename: `${s.uid}.png`,
        aestheticsScore: s.scores[0],
        artifactScore: s.scores[1],
        misalignmentScore: s.scores[2],
        overallScore: s.scores[3],
        artifactMap: maps[0],
        misalignmentMap: maps[1],
        promptMisalignmentLabel: Array.from({ length: s.words }, (_, i) => String(i % 2)).join(' '),
      };
      records.push(await encodeRichHFExample(rec));
    }
    return { files: { 'test.tfrecord': tfrecordBytes(records) }, main: 'test.tfrecord' };
  },
  parse: async (dir, main) => (await readRichHFAll(path.join(dir, main))).records,
  summary: (rs) => rs.map(richLine).join('\n'),
  sameContent: (valid, got) => {
    const line = (r: RichHFRecord) => richLine(r);
    const known = new Set(valid.map(line));
    return got.every((r) => known.has(line(r)));
  },
  check: (rs) => {
    for (const r of rs) {
      for (const m of [r.artifactMap, r.misalignmentMap]) if (m.data.length !== m.width * m.height) return `map of ${r.filename}: ${m.data.length} bytes for ${m.width}x${m.height}`;
      for (const s of [r.aestheticsScore, r.artifactScore, r.misalignmentScore, r.overallScore]) if (!(s >= 0 && s <= 1)) return `score ${s} of ${r.filename}`;
    }
    return undefined;
  },
};

// ---- parquet (Pick-a-Pic layout) ---------------------------------------------------------------------

interface ParquetSpec {
  rows: Array<{ a: string; b: string; caption: string; ja: Uint8Array; jb: Uint8Array }>;
  rowGroupSize: number;
  wanted: number[];
  compressed: boolean;
}

type ParquetWriter = typeof import('hyparquet-writer');
let writerModule: ParquetWriter | undefined;
/** hyparquet-writer is ESM-only: Node's own loader inside Jest's sandbox (as pickapic.ts does for hyparquet). */
function parquetWriter(): ParquetWriter {
  if (writerModule) return writerModule;
  try {
    writerModule = require('hyparquet-writer') as ParquetWriter;
  } catch {
    const nodeModule = (process as unknown as { getBuiltinModule(id: string): typeof import('module') }).getBuiltinModule('module');
    writerModule = nodeModule.createRequire(__filename)('hyparquet-writer') as ParquetWriter;
  }
  return writerModule;
}

export const parquetTarget: Target<ParquetSpec, Array<{ uid: string; bytes: Uint8Array; caption?: string }>> = {
  name: 'parquet',
  json: false,
  integrity: false,
  spec: fc.record({
    rows: fc.array(
      fc.record({
        a: fc.stringMatching(/^[0-9a-f]{6}-000[0-9]$/),
        b: fc.stringMatching(/^[0-9a-f]{6}-001[0-9]$/),
        caption: fc.string({ maxLength: 30 }),
        ja: fc.uint8Array({ minLength: 1, maxLength: 40 }),
        jb: fc.uint8Array({ minLength: 1, maxLength: 40 }),
      }),
      { minLength: 1, maxLength: 6 },
    ),
    rowGroupSize: fc.integer({ min: 1, max: 4 }),
    wanted: fc.array(fc.nat(), { minLength: 1, maxLength: 4 }),
    compressed: fc.boolean(),
  }),
  build: async (s) => {
    const w = parquetWriter();
    const col = (name: string, data: unknown[], type: 'STRING' | 'BYTE_ARRAY') => ({ name, data, type });
    const buf = w.parquetWriteBuffer({
      columnData: [
        col('image_0_uid', s.rows.map((r) => r.a), 'STRING'),
        col('image_1_uid', s.rows.map((r) => r.b), 'STRING'),
        col('caption', s.rows.map((r) => r.caption), 'STRING'),
        col('jpg_0', s.rows.map((r) => r.ja), 'BYTE_ARRAY'),
        col('jpg_1', s.rows.map((r) => r.jb), 'BYTE_ARRAY'),
      ] as never,
      rowGroupSize: s.rowGroupSize,
      codec: s.compressed ? 'SNAPPY' : 'UNCOMPRESSED',
    } as never);
    const uids = s.rows.flatMap((r) => [r.a, r.b]);
    const wanted = s.wanted.map((i) => uids[i % uids.length]);
    return { files: { 'pick.parquet': new Uint8Array(buf) }, main: 'pick.parquet', context: wanted };
  },
  parse: async (dir, main, context) => {
    const wanted = new Set(context as string[]);
    const out: Array<{ uid: string; bytes: Uint8Array; caption?: string }> = [];
    for await (const img of imagesFromParquet(path.join(dir, main), wanted)) out.push(img);
    return out;
  },
  summary: (imgs) => imgs.map((i) => `${i.uid}|${i.caption}|${digestBytes(i.bytes)}`).sort().join('\n'),
  check: (imgs) => imgs.find((i) => !(i.bytes instanceof Uint8Array) || typeof i.uid !== 'string') && 'an image without bytes or uid',
};

// ---- raw annotations -----------------------------------------------------------------------------

export const annotationsTarget: Target<unknown[], ReturnType<typeof consolidateAll>> = {
  name: 'raw annotations',
  json: true,
  integrity: false,
  spec: fc.array(
    fc.record({
      uid: fc.constantFrom('img1', 'img2', 'img3'),
      annotator: fc.integer({ min: 0, max: 5 }),
      words: fc.integer({ min: 0, max: 6 }),
      width: fc.integer({ min: 1, max: 2048 }),
      height: fc.integer({ min: 1, max: 2048 }),
      pts: fc.array(fc.tuple(fc.double({ min: 0, max: 1, noNaN: true }), fc.double({ min: 0, max: 1, noNaN: true })), { maxLength: 4 }),
      likert: fc.array(fc.integer({ min: 1, max: 5 }), { minLength: 4, maxLength: 4 }),
    }),
    { minLength: 1, maxLength: 6 },
  ),
  build: async (specs) => {
    // One prompt and size per uid (the first annotation's), annotators unique per uid.
    const first = new Map<string, { words: number; width: number; height: number }>();
    const seen = new Set<string>();
    const lines: string[] = [];
    for (const s of specs as Array<{ uid: string; annotator: number; words: number; width: number; height: number; pts: [number, number][]; likert: number[] }>) {
      const f = first.get(s.uid) ?? { words: s.words, width: s.width, height: s.height };
      first.set(s.uid, f);
      if (seen.has(`${s.uid}/${s.annotator}`)) continue;
      seen.add(`${s.uid}/${s.annotator}`);
      const prompt = WORDS.slice(0, f.words).join(' ');
      const pts = s.pts.map(([x, y]) => [x * f.width, y * f.height]);
      lines.push(JSON.stringify({
        uid: s.uid, prompt, annotator: `a${s.annotator}`, width: f.width, height: f.height,
        artifact_points: pts, misalignment_points: pts.slice(1),
        plausibility: s.likert[0], alignment: s.likert[1], aesthetics: s.likert[2], overall: s.likert[3],
        misaligned_words: f.words ? [s.annotator % f.words] : [],
      }));
    }
    return { files: { 'raw.jsonl': utf8(lines.join('\n') + '\n') } as Files, main: 'raw.jsonl' };
  },
  parse: async (dir, main) => {
    const file = path.join(dir, main);
    return consolidateAll(parseRawAnnotations(readRegularText(file, 'raw annotations'), file), { mapSize: 32 });
  },
  summary: (cs) => cs.map((c) => `${c.uid}|${c.annotators}|${c.record.promptMisalignmentLabel}|${digestBytes(c.record.artifactMap.data)}`).join('\n'),
  check: (cs) => {
    for (const c of cs) {
      const r = c.record;
      if (r.artifactMap.data.length !== 32 * 32 || r.misalignmentMap.data.length !== 32 * 32) return `${c.uid}: map size`;
      const labels = r.promptMisalignmentLabel ? r.promptMisalignmentLabel.split(' ').length : 0;
      if (labels !== promptWords(c.caption).length) return `${c.uid}: ${labels} labels for "${c.caption}"`;
      for (const s of [r.aestheticsScore, r.artifactScore, r.misalignmentScore, r.overallScore]) if (!(s >= 0 && s <= 1)) return `${c.uid}: score ${s}`;
    }
    return undefined;
  },
};
