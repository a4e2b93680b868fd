import * as fs from 'fs';
import * as path from 'path';
import sharp from 'sharp';
import { parityDir } from './fixtures';
import { joinImages, JoinResult } from '../data/pickapic';
import { GrayMap, uidOf } from '../data/record';
import { IndexedRichHFRecord, parseLabels, readRichHFAll } from '../data/richhf';

/**
 * `<parity>/richhf/`: RichHF-format records written by TensorBoard's TFRecord writer + protobuf, a
 * Pick-a-Pic-shaped parquet from pyarrow, and truth.json from Python. Everything must match exactly:
 * scores are float32 in the record and the float64 they came from in truth.json, so the truth is
 * rounded to float32 (Math.fround) and compared with ===.
 */
interface Truth {
  uid: string;
  prompt: string;
  labels: number[];
  scores: Record<'aesthetics_score' | 'artifact_score' | 'misalignment_score' | 'overall_score', number>;
  image_hw: [number, number];
  artifact_map_sum: number;
  misalignment_map_sum: number;
}

const dir = path.join(parityDir(), 'richhf');
// Read unconditionally: a parity dir without richhf/ fails here rather than passing on nothing.
const truth: Truth[] = JSON.parse(fs.readFileSync(path.join(dir, 'truth.json'), 'utf8'));

function pixelSum(m: GrayMap): number {
  let s = 0;
  for (let i = 0; i < m.data.length; i++) s += m.data[i];
  return s;
}

describe('RichHF-18K parity', () => {
  let records: IndexedRichHFRecord[];
  let warnings: string[];
  let joined: JoinResult;

  beforeAll(async () => {
    ({ records, warnings } = await readRichHFAll(path.join(dir, 'test.tfrecord')));
    const uids = new Set(records.map((r) => uidOf(r.filename)));
    joined = await joinImages(uids, { parquet: [path.join(dir, 'pickapic_like.parquet')] });
    // Check labels against the joined prompts too (warnings must stay empty on this data).
    const prompts = new Map([...joined.images].map(([uid, img]) => [uid, img.caption ?? '']));
    const checked = await readRichHFAll(path.join(dir, 'test.tfrecord'), { prompts });
    warnings.push(...checked.warnings);
  });

  it('reads one record per truth entry, in order, with every image joined and no warnings', () => {
    expect(truth.length).toBeGreaterThan(0);
    expect(records.map((r) => uidOf(r.filename))).toEqual(truth.map((t) => t.uid));
    expect(joined.missing).toEqual([]);
    expect(warnings).toEqual([]);
  });

  truth.forEach((t, i) => {
    it(`record ${i} (${t.uid}) matches truth.json`, async () => {
      const r = records[i];
      expect(uidOf(r.filename)).toBe(t.uid);
      const img = joined.images.get(t.uid);
      expect(img).toBeDefined();
      expect(img!.caption).toBe(t.prompt);
      expect(parseLabels(r.promptMisalignmentLabel)).toEqual(t.labels);
      expect({
        aesthetics_score: r.aestheticsScore,
        artifact_score: r.artifactScore,
        misalignment_score: r.misalignmentScore,
        overall_score: r.overallScore,
      }).toEqual({
        aesthetics_score: Math.fround(t.scores.aesthetics_score),
        artifact_score: Math.fround(t.scores.artifact_score),
        misalignment_score: Math.fround(t.scores.misalignment_score),
        overall_score: Math.fround(t.scores.overall_score),
      });
      const { info } = await sharp(img!.bytes).raw().toBuffer({ resolveWithObject: true });
      expect([info.height, info.width]).toEqual(t.image_hw);
      expect(pixelSum(r.artifactMap)).toBe(t.artifact_map_sum);
      expect(pixelSum(r.misalignmentMap)).toBe(t.misalignment_map_sum);
    });
  });
});
