import * as fs from 'fs';
import * as os from 'os';
import * as path from 'path';
import { joinImages, UserError } from '@richhf/reward';
import sharp from 'sharp';
import { Journal } from './journal';
import { OutputSet, OutputSetOptions } from './output-set';
import { RunSettings } from './run-config';
import { promptOutputs } from './testing/samples';
import { parquetRows, readTar, verifyOutput } from './verify';

let dir: string;
let out: string;
beforeEach(() => {
  dir = fs.mkdtempSync(path.join(os.tmpdir(), 'ft-out-'));
  out = path.join(dir, 'run');
});
afterEach(() => fs.rmSync(dir, { recursive: true, force: true }));

const settings: RunSettings = {
  generator: { kind: 'test' }, n: 4, seed: 0, select: 'plausibility', min: null, top: 1, pairs: true, margin: 0.1,
  formats: ['webdataset', 'imagefolder', 'dpo'], imageType: 'png', keywords: true, scorer: { checkpoint: 'x' },
};
const opts = (o: Partial<OutputSetOptions> = {}): OutputSetOptions => ({ out, formats: ['webdataset', 'imagefolder', 'dpo'], settings, shardSamples: 2, model: 'test', ...o });

test('three formats from one run: shards share boundaries, read back whole, and open in the readers trainers use', async () => {
  const set = await OutputSet.open(opts());
  const ids = ['a', 'b', '../../x', 'd', 'e'];
  for (const [i, id] of ids.entries()) {
    const { outputs, record } = await promptOutputs(id, `prompt ${id}`, { accepted: id === 'd' ? 0 : 1, pair: i % 2 === 0 });
    await set.add(outputs, record);
  }
  await set.close();
  expect(fs.readdirSync(dir)).toEqual(['run']); // nothing written beside --out
  const report = await verifyOutput(out);
  expect(report.problems).toEqual([]);
  expect(report).toMatchObject({ prompts: 5, webdataset: { shards: 2, samples: 4 }, imagefolder: { samples: 4 }, dpo: { files: 2, rows: 3 } });
  expect(fs.readdirSync(path.join(out, 'webdataset'))).toEqual(['000000.tar', '000001.tar']);
  expect(fs.readdirSync(path.join(out, 'dpo'))).toEqual(['train-000000.parquet', 'train-000001.parquet']);

  // webdataset: key.png / key.txt / key.json in open-muse's layout; keys have no dot and stay in the tar root.
  const members = await readTar(path.join(out, 'webdataset', '000000.tar'));
  expect(members.map((m) => m.name)).toEqual(['a_0.png', 'a_0.txt', 'a_0.json', 'b_0.png', 'b_0.txt', 'b_0.json']);
  expect(members[1].data.toString()).toBe('prompt a');
  const meta = JSON.parse(members[2].data.toString());
  expect(meta).toMatchObject({ prompt: 'prompt a', prompt_id: 'a', candidate: 0, seed: 1000, rank: 0, selection_score: 0.9, plausibility: 0.9, original_width: 24, original_height: 16, misaligned: [], generator: { steps: 4 } });
  expect((await sharp(members[0].data).metadata()).format).toBe('png');
  const x = (await readTar(path.join(out, 'webdataset', '000001.tar'))).map((m) => m.name);
  expect(x[0]).toMatch(/^x-[0-9a-f]{12}_0\.png$/);

  // imagefolder: train/metadata.jsonl with file_name and text first, images beside it.
  const rows = fs.readFileSync(path.join(out, 'imagefolder', 'train', 'metadata.jsonl'), 'utf8').trim().split('\n').map((l) => JSON.parse(l));
  expect(rows.map((r) => Object.keys(r).slice(0, 2))).toEqual(rows.map(() => ['file_name', 'text']));
  expect(rows.map((r) => r.text)).toEqual(['prompt a', 'prompt b', 'prompt ../../x', 'prompt e']);
  for (const r of rows) expect(fs.existsSync(path.join(out, 'imagefolder', 'train', r.file_name))).toBe(true);

  // DPO parquet: Pick-a-Pic columns; winner side by label; JPEG bytes; reward's parquet join finds the uids.
  const pairs: Record<string, unknown>[] = [];
  for (const f of ['train-000000.parquet', 'train-000001.parquet']) for await (const r of parquetRows(path.join(out, 'dpo', f))) pairs.push(r);
  expect(pairs.map((r) => r.caption)).toEqual(['prompt a', 'prompt ../../x', 'prompt e']);
  for (const r of pairs) {
    expect(Number(r.label_0) + Number(r.label_1)).toBe(1);
    const winner = r.label_0 === 1 ? 0 : 1;
    expect(r[`image_${winner}_uid`]).toBe(r.best_image_uid);
    expect(r[`score_${winner}`]).toBeGreaterThan(r[`score_${1 - winner}`] as number);
    expect((await sharp(r.jpg_0 as Uint8Array).metadata()).format).toBe('jpeg');
  }
  const uids = new Set(pairs.flatMap((r) => [String(r.image_0_uid), String(r.image_1_uid)]));
  const joined = await joinImages(uids, { parquet: fs.readdirSync(path.join(out, 'dpo')).map((f) => path.join(out, 'dpo', f)) });
  expect(joined.missing).toEqual([]);
  expect(joined.images.size).toBe(6);
});

test('resume continues numbering and offsets; an uncommitted shard is dropped, never published', async () => {
  let set = await OutputSet.open(opts());
  for (const id of ['a', 'b']) {
    const { outputs, record } = await promptOutputs(id, id, { pair: true });
    await set.add(outputs, record);
  }
  // Shard full after 2 → committed. One more prompt stays in staging; then the process "dies" (no close).
  const { outputs, record } = await promptOutputs('c', 'c', { pair: true });
  await set.add(outputs, record);
  expect(fs.readdirSync(path.join(out, '.finetune', 'staging')).length).toBeGreaterThan(0);
  fs.rmSync(path.join(out, '.finetune', 'lock')); // what a kill leaves: a lock whose owner is gone (simulated)

  set = await OutputSet.open(opts());
  expect(set.resumed).toBe(true);
  expect([...set.done.keys()]).toEqual(['a', 'b']);
  expect(fs.readdirSync(path.join(out, '.finetune', 'staging'))).toEqual([]);
  for (const id of ['c', 'd']) {
    const r = await promptOutputs(id, id, { pair: true });
    await set.add(r.outputs, r.record);
  }
  await set.close();
  const report = await verifyOutput(out);
  expect(report.problems).toEqual([]);
  expect(report).toMatchObject({ prompts: 4, webdataset: { shards: 2, samples: 4 }, imagefolder: { samples: 4 }, dpo: { files: 2, rows: 4 } });
});

test('another run, foreign files, a second builder and a torn journal line', async () => {
  await (await OutputSet.open(opts())).close();
  await expect(OutputSet.open(opts({ settings: { ...settings, n: 8 } }))).rejects.toThrow(/holds another run's files \(n: 8 now, 4 in the folder\)/);
  const foreign = path.join(dir, 'foreign');
  fs.mkdirSync(foreign);
  fs.writeFileSync(path.join(foreign, 'thesis.pdf'), 'x');
  await expect(OutputSet.open(opts({ out: foreign }))).rejects.toThrow(UserError);
  await expect(OutputSet.open(opts({ out: foreign }))).rejects.toThrow(/is not empty and holds no finetune run \(thesis\.pdf\)/);

  const set = await OutputSet.open(opts());
  await expect(OutputSet.open(opts())).rejects.toThrow(/in use by another builder \(pid \d+\)/);
  const r = await promptOutputs('a', 'a');
  await set.add(r.outputs, r.record);
  await set.close();
  const journal = path.join(out, '.finetune', 'journal.jsonl');
  const good = fs.readFileSync(journal, 'utf8');
  fs.appendFileSync(journal, '{"v":1,"seq":1,"prompts":[{"id":"b"'); // a record cut short by a kill
  const again = await OutputSet.open(opts());
  expect([...again.done.keys()]).toEqual(['a']);
  await again.close();
  expect(fs.readFileSync(journal, 'utf8')).toBe(good);
});

test('a record written but not yet applied is redone on open (kill between journal and rename)', async () => {
  const set = await OutputSet.open(opts({ formats: ['webdataset', 'imagefolder'] }));
  const r = await promptOutputs('a', 'a');
  await set.add(r.outputs, r.record);
  const actions = { renames: [] as Array<[string, string]>, appends: [] as Array<{ file: string; offset: number; text: string }> };
  for (const w of set.writers) {
    const a = await w.seal();
    actions.renames.push(...a.renames);
    actions.appends.push(...a.appends);
  }
  // Write the record the way Journal.commit does, but stop before applying it.
  const rec = { v: 1, seq: 0, at: new Date().toISOString(), prompts: [r.record], actions, state: {} };
  fs.appendFileSync(path.join(out, '.finetune', 'journal.jsonl'), JSON.stringify(rec) + '\n');
  fs.rmSync(path.join(out, '.finetune', 'lock'));
  expect(fs.existsSync(path.join(out, 'webdataset'))).toBe(false);
  const j = await Journal.open(out, path.join(out, '.finetune', 'staging'));
  j.close();
  expect(fs.readdirSync(path.join(out, 'webdataset'))).toEqual(['000000.tar']);
  expect((await verifyOutput(out)).problems).toEqual([]);
});
