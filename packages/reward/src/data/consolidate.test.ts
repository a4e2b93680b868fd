import {
  AnnotationError,
  consolidateAll,
  consolidateImage,
  groupByUid,
  majorityLabels,
  parseRawAnnotations,
  rasterizeDisks,
  rawAnnotationLine,
  type RawAnnotation,
} from './consolidate';

function ann(over: Partial<RawAnnotation>): RawAnnotation {
  return {
    uid: 'img1',
    prompt: 'a red ball on the left',
    annotator: 'a',
    width: 100,
    height: 100,
    artifact_points: [],
    misalignment_points: [],
    plausibility: 3,
    alignment: 3,
    aesthetics: 3,
    overall: 3,
    misaligned_words: [],
    ...over,
  };
}

const at = (m: { width: number; data: Uint8Array }, x: number, y: number) => m.data[y * m.width + x];

describe('rasterizeDisks', () => {
  test('a disk of radius 5 around (50,50) covers pixel centres within 5 px', () => {
    const m = rasterizeDisks([[50, 50]], 100, 100, 5, 100, 100);
    expect(m[49 * 100 + 49]).toBe(1); // centre (49.5, 49.5)
    expect(m[49 * 100 + 54]).toBe(1); // centre x 54.5: dx 4.5, dy 0.5 → inside
    expect(m[49 * 100 + 55]).toBe(0); // centre x 55.5: dx 5.5 → outside
    expect(m[44 * 100 + 44]).toBe(0); // corner of the bounding square is outside the circle
    const area = m.reduce((s, v) => s + v, 0);
    expect(Math.abs(area - Math.PI * 25)).toBeLessThan(8);
  });

  test('overlapping disks of one annotator saturate at 1', () => {
    const m = rasterizeDisks([[50, 50], [51, 50]], 100, 100, 5, 100, 100);
    expect(Math.max(...m)).toBe(1);
  });

  test('maps image coordinates onto a smaller output grid (disk becomes an ellipse on non-square images)', () => {
    // 200×100 image on a 50×50 grid: x scale 4, y scale 2; radius 10 → 2.5 cols, 5 rows.
    const m = rasterizeDisks([[100, 50]], 200, 100, 10, 50, 50);
    const cols = [...Array(50).keys()].filter((j) => m[25 * 50 + j] === 1);
    const rows = [...Array(50).keys()].filter((i) => m[i * 50 + 24] === 1 || m[i * 50 + 25] === 1);
    expect(cols.length).toBeGreaterThanOrEqual(4);
    expect(cols.length).toBeLessThanOrEqual(6);
    expect(rows.length).toBeGreaterThanOrEqual(9);
    expect(rows.length).toBeLessThanOrEqual(11);
  });

  test('disks at the border are clipped, not wrapped', () => {
    const m = rasterizeDisks([[0, 0]], 100, 100, 5, 100, 100);
    expect(m[0]).toBe(1);
    expect(m[99]).toBe(0);
    expect(m[99 * 100]).toBe(0);
  });
});

describe('majorityLabels', () => {
  test('three annotators: two of three flags make a word misaligned', () => {
    expect(majorityLabels(4, [[1, 2], [1], [2, 3]])).toEqual([1, 0, 0, 1]);
  });
  test('a tie keeps the word aligned', () => {
    expect(majorityLabels(3, [[0], []])).toEqual([1, 1, 1]);
    expect(majorityLabels(3, [[0], [0]])).toEqual([0, 1, 1]);
  });
  test('an annotator flagging a word twice counts once', () => {
    expect(majorityLabels(2, [[0, 0], [], []])).toEqual([1, 1]);
  });
});

describe('consolidateImage', () => {
  test('two annotators: disks of radius height/20, averaged, scaled to 0–255', () => {
    const c = consolidateImage(
      [
        ann({ annotator: 'a', artifact_points: [[30, 50]] }),
        ann({ annotator: 'b', artifact_points: [[70, 50]], misalignment_points: [[10, 10]] }),
      ],
      { mapSize: 100 },
    );
    const m = c.record.artifactMap;
    expect([m.width, m.height]).toEqual([100, 100]);
    // radius = 100/20 = 5: one annotator of two → round(0.5·255) = 128
    expect(at(m, 30, 49)).toBe(128);
    expect(at(m, 69, 49)).toBe(128);
    expect(at(m, 50, 49)).toBe(0);
    expect(at(m, 36, 49)).toBe(0); // 6.5 px from (30,50)
    expect(new Set(m.data)).toEqual(new Set([0, 128]));
    expect(at(c.record.misalignmentMap, 10, 10)).toBe(128);
  });

  test('both annotators marking the same place give 255', () => {
    const c = consolidateImage(
      [ann({ annotator: 'a', artifact_points: [[50, 50]] }), ann({ annotator: 'b', artifact_points: [[52, 50]] })],
      { mapSize: 100 },
    );
    expect(at(c.record.artifactMap, 50, 49)).toBe(255);
    expect(at(c.record.artifactMap, 46, 49)).toBe(128); // inside a's disk only (dx 3.5 vs 5.5)
  });

  test('the radius follows the image height, not the map size', () => {
    // 400-px-tall image → radius 20 image px → 5 map px on a 100-px map
    const c = consolidateImage([ann({ width: 400, height: 400, artifact_points: [[200, 200]] })], { mapSize: 100 });
    expect(at(c.record.artifactMap, 54, 49)).toBe(255);
    expect(at(c.record.artifactMap, 55, 49)).toBe(0);
  });

  test('scores are averaged then mapped (s−1)/4', () => {
    const c = consolidateImage([
      ann({ annotator: 'a', plausibility: 5, alignment: 1, aesthetics: 2, overall: 4 }),
      ann({ annotator: 'b', plausibility: 4, alignment: 2, aesthetics: 2, overall: 3 }),
      ann({ annotator: 'c', plausibility: 3, alignment: 3, aesthetics: 5, overall: 3 }),
    ]);
    expect(c.record.artifactScore).toBeCloseTo(0.75, 12);
    expect(c.record.misalignmentScore).toBeCloseTo(0.25, 12);
    expect(c.record.aestheticsScore).toBeCloseTo(0.5, 12);
    expect(c.record.overallScore).toBeCloseTo((10 / 3 - 1) / 4, 12);
    expect(c.record.artifactMap.width).toBe(512); // default map size
  });

  test('word labels by majority over promptWords', () => {
    const c = consolidateImage([
      ann({ annotator: 'a', misaligned_words: [1, 5] }),
      ann({ annotator: 'b', misaligned_words: [1] }),
      ann({ annotator: 'c', misaligned_words: [] }),
    ]);
    expect(c.record.promptMisalignmentLabel).toBe('1 0 1 1 1 1');
    expect(c.caption).toBe('a red ball on the left');
    expect(c.record.filename).toBe('img1.png');
  });

  test('inconsistent groups are rejected naming the line', () => {
    const a = ann({ annotator: 'a', where: 'x.jsonl:1' });
    expect(() => consolidateImage([a, ann({ annotator: 'a', where: 'x.jsonl:2' })])).toThrow(/x\.jsonl:2: annotator "a" annotated uid "img1" twice/);
    expect(() => consolidateImage([a, ann({ annotator: 'b', prompt: 'other', where: 'x.jsonl:3' })])).toThrow(/x\.jsonl:3: prompt differs/);
    expect(() => consolidateImage([a, ann({ annotator: 'b', height: 90, where: 'x.jsonl:4' })])).toThrow(/x\.jsonl:4: image size/);
  });
});

describe('parseRawAnnotations', () => {
  const good = rawAnnotationLine(ann({ artifact_points: [[1, 2]], misaligned_words: [1] }));

  test('round-trips a line and records where it came from', () => {
    const [a] = parseRawAnnotations(`\n${good}\n`, 'f.jsonl');
    expect(a.where).toBe('f.jsonl:2');
    expect(a.artifact_points).toEqual([[1, 2]]);
    expect(rawAnnotationLine(a)).toBe(good);
  });

  test('optional arrays default to empty; numeric annotator ids become strings', () => {
    const [a] = parseRawAnnotations(
      JSON.stringify({ uid: 'u', prompt: 'p', annotator: 7, width: 4, height: 4, plausibility: 1, alignment: 2, aesthetics: 3, overall: 4 }),
      'f',
    );
    expect(a.annotator).toBe('7');
    expect(a.artifact_points).toEqual([]);
    expect(a.misaligned_words).toEqual([]);
  });

  const cases: Array<[string, Record<string, unknown>, RegExp]> = [
    ['score out of range', { plausibility: 6 }, /f\.jsonl:2: "plausibility" must be a Likert score in \[1, 5\]/],
    ['point outside', { artifact_points: [[101, 5]] }, /f\.jsonl:2: "artifact_points"\[0\] = \[101, 5\] lies outside the 100×100 image/],
    ['bad point', { misalignment_points: [[1]] }, /"misalignment_points"\[0\] must be \[x, y\]/],
    ['word index', { misaligned_words: [6] }, /not a word index in \[0, 6\)/],
    ['typo field', { artefact_points: [] }, /unknown field "artefact_points"/],
    ['height', { height: 0 }, /"height" must be a positive integer/],
    ['uid', { uid: '' }, /"uid" must be a non-empty string/],
  ];
  test.each(cases)('rejects %s', (_name, over, re) => {
    const line = JSON.stringify({ ...JSON.parse(good), ...over });
    expect(() => parseRawAnnotations(`${good}\n${line}`, 'f.jsonl')).toThrow(re);
    expect(() => parseRawAnnotations(`${good}\n${line}`, 'f.jsonl')).toThrow(AnnotationError);
  });

  test('rejects broken JSON naming file and line', () => {
    expect(() => parseRawAnnotations(`${good}\n{oops`, 'f.jsonl')).toThrow(/^f\.jsonl:2: not valid JSON/);
  });
});

test('consolidateAll groups by uid in first-appearance order', () => {
  const anns = [ann({ uid: 'b' }), ann({ uid: 'a' }), ann({ uid: 'b', annotator: 'z' })];
  expect(groupByUid(anns).map((g) => g.length)).toEqual([2, 1]);
  let ticks = 0;
  const out = consolidateAll(anns, { mapSize: 8 }, () => ticks++);
  expect(out.map((c) => [c.uid, c.annotators])).toEqual([['b', 2], ['a', 1]]);
  expect(ticks).toBe(2);
});
