import * as fs from 'fs';
import * as os from 'os';
import * as path from 'path';
import { readRichHFAll } from '../data/richhf';
import { captionsPathFor, runConsolidate } from './consolidate';
import { UserError } from '../errors';

let dir: string;
beforeEach(() => (dir = fs.mkdtempSync(path.join(os.tmpdir(), 'cli-consolidate-'))));
afterEach(() => fs.rmSync(dir, { recursive: true, force: true }));

const line = (o: Record<string, unknown>) =>
  JSON.stringify({
    uid: 'img1', prompt: 'a red ball', annotator: 'a', width: 200, height: 100,
    plausibility: 5, alignment: 4, aesthetics: 3, overall: 4, ...o,
  });

test('consolidates raw JSONL into RichHF records plus a captions sidecar', async () => {
  const input = path.join(dir, 'raw.jsonl');
  fs.writeFileSync(
    input,
    [
      line({ annotator: 'a', artifact_points: [[100, 50]], misaligned_words: [1] }),
      line({ annotator: 'b', misaligned_words: [1], plausibility: 3 }),
      line({ uid: 'img2', prompt: 'two cats', annotator: 'a' }),
    ].join('\n'),
  );
  const out = path.join(dir, 'out', 'train.tfrecord');
  expect(await runConsolidate({ input, out, mapSize: 64, progress: false })).toBe(0);
  const { records } = await readRichHFAll(out);
  expect(records.map((r) => r.filename)).toEqual(['img1.png', 'img2.png']);
  expect(records[0].artifactScore).toBeCloseTo(0.75, 6);
  expect(records[0].promptMisalignmentLabel).toBe('1 0 1');
  expect(records[0].artifactMap.width).toBe(64);
  expect(records[0].artifactMap.data[32 * 64 + 32]).toBe(128); // one of two annotators
  expect(captionsPathFor(out)).toBe(path.join(dir, 'out', 'train.captions.jsonl'));
  expect(fs.readFileSync(captionsPathFor(out), 'utf8')).toBe(
    '{"uid":"img1","caption":"a red ball"}\n{"uid":"img2","caption":"two cats"}\n',
  );
});

test('bad input is a one-line UserError naming the file and line', async () => {
  const input = path.join(dir, 'raw.jsonl');
  fs.writeFileSync(input, `${line({})}\n${line({ annotator: 'b', overall: 0 })}\n`);
  const out = path.join(dir, 'x.tfrecord');
  await expect(runConsolidate({ input, out })).rejects.toThrow(UserError);
  await expect(runConsolidate({ input, out })).rejects.toThrow(`${input}:2: "overall" must be a Likert score in [1, 5], got 0`);
  await expect(runConsolidate({ input: path.join(dir, 'nope.jsonl'), out })).rejects.toThrow(/nope\.jsonl: no such file/);
  fs.writeFileSync(input, '\n');
  await expect(runConsolidate({ input, out })).rejects.toThrow(/no annotations/);
  await expect(runConsolidate({ input, out, mapSize: 0 })).rejects.toThrow(/--map-size/);
  expect(fs.existsSync(out)).toBe(false);
});
