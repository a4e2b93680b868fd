import * as fs from 'fs';
import * as os from 'os';
import * as path from 'path';
import * as tf from '@tensorflow/tfjs';
import { initBackend } from '../backend';
import { readRichHFAll, parseLabels } from '../data/richhf';
import { uidOf } from '../data/record';
import { writeSynthWorld } from '../data/synth/world';
import { loadImage, preprocessCLIP } from '../image';
import { loadCLIP } from '../models/clip';
import { Tokenizer } from '../tokenizer';
import { correlations, heatmapMetrics, keywordPRF, meanDefined } from '../metrics';
import { parityDir } from '../parity/fixtures';
import { promptWords } from '../rahf/keywords';
import { RewardModel } from '../rahf/model';
import { HEATMAP_NAMES, SCORE_NAMES } from '../rahf/config';
import { UserError } from '../errors';
import { CliIO } from './command';
import { runEval } from './eval';

const RAHF_TOKENIZER = path.join(parityDir(), 'rahf', 't5', 'tokenizer.json');
const SCORE_FIELD = { plausibility: 'artifactScore', alignment: 'misalignmentScore', aesthetics: 'aestheticsScore', overall: 'overallScore' } as const;
const MAP_FIELD = { implausibility: 'artifactMap', misalignment: 'misalignmentMap' } as const;

let tmp: string;
let world: string;
let ckpt: string;

beforeAll(async () => {
  await initBackend();
  tmp = fs.mkdtempSync(path.join(os.tmpdir(), 'cli-eval-'));
  process.env.RAHF_CACHE_DIR = path.join(tmp, 'onnx-cache');
  world = path.join(tmp, 'world');
  await writeSynthWorld({ out: world, n: 60, seed: 11, size: 64, mapSize: 32, progress: false });
  ckpt = path.join(tmp, 'ckpt');
  const m = await RewardModel.fromPreset('tiny', { tokenizer: RAHF_TOKENIZER, seed: 5 });
  await m.save(ckpt);
  m.dispose();
});
afterAll(() => {
  delete process.env.RAHF_CACHE_DIR;
  fs.rmSync(tmp, { recursive: true, force: true });
});

/**
 * A CLIP-shaped tokenizer.json for the tiny CLIP fixture (vocabulary 99, bos 49, eos 98): the
 * structure of openai/clip-vit-base-patch32's (NFC + whitespace + lowercase normaliser, CLIP's split
 * regex, byte-level, BPE with the </w> end-of-word suffix, RobertaProcessing adding bos/eos), with a
 * character vocabulary and no merges.
 */
function writeClipTokenizer(dir: string): void {
  const chars = 'abcdefghijklmnopqrstuvwxyz,'.split('');
  const vocab: Record<string, number> = {};
  let id = 0;
  for (const t of [...chars, ...chars.map((c) => `${c}</w>`)]) {
    if (id === 49) id++;
    vocab[t] = id++;
  }
  vocab['<|startoftext|>'] = 49;
  vocab['<|endoftext|>'] = 98;
  const special = (i: number, content: string) => ({ id: i, content, single_word: false, lstrip: false, rstrip: false, normalized: true, special: true });
  const json = {
    version: '1.0',
    truncation: null,
    padding: null,
    added_tokens: [special(49, '<|startoftext|>'), special(98, '<|endoftext|>')],
    normalizer: { type: 'Sequence', normalizers: [{ type: 'NFC' }, { type: 'Replace', pattern: { Regex: '\\s+' }, content: ' ' }, { type: 'Lowercase' }] },
    pre_tokenizer: {
      type: 'Sequence',
      pretokenizers: [
        { type: 'Split', pattern: { Regex: "<\\|startoftext\\|>|<\\|endoftext\\|>|'s|'t|'re|'ve|'m|'ll|'d|[\\p{L}]+|[\\p{N}]|[^\\s\\p{L}\\p{N}]+" }, behavior: 'Removed', invert: true },
        { type: 'ByteLevel', add_prefix_space: false, trim_offsets: true, use_regex: false },
      ],
    },
    post_processor: { type: 'RobertaProcessing', sep: ['<|endoftext|>', 98], cls: ['<|startoftext|>', 49], trim_offsets: false, add_prefix_space: false },
    decoder: { type: 'ByteLevel', add_prefix_space: true, trim_offsets: true, use_regex: true },
    model: { type: 'BPE', dropout: null, unk_token: '<|endoftext|>', continuing_subword_prefix: '', end_of_word_suffix: '</w>', fuse_unk: false, byte_fallback: false, vocab, merges: [] },
  };
  fs.writeFileSync(path.join(dir, 'tokenizer.json'), JSON.stringify(json));
}

function capture(): CliIO & { out: string[]; err: string[] } {
  const out: string[] = [];
  const err: string[] = [];
  return { out, err, stdout: (t) => out.push(t), stderr: (l) => err.push(l) };
}

function close(actual: number | null, expected: number): void {
  if (!Number.isFinite(expected)) expect(actual).toBeNull();
  else expect(actual).toBeCloseTo(expected, 10);
}

const mean = (xs: number[]) => xs.reduce((a, b) => a + b, 0) / xs.length;

test('--json: exact shape, and every number equals a direct computation through src/metrics', async () => {
  const io = capture();
  const outFile = path.join(tmp, 'res', 'eval.json');
  // tfjs, to compare to the digit with RewardModel.predict below (the next test compares the engines).
  expect(await runEval({ checkpoint: ckpt, data: world, json: true, out: outFile, batchSize: 4, progress: false, maxNewTokens: 24, engine: 'tfjs' }, io)).toBe(0);
  expect(io.out).toHaveLength(1);
  const j = JSON.parse(io.out[0]);
  expect(JSON.parse(fs.readFileSync(outFile, 'utf8'))).toEqual(j);
  expect(io.out[0]).not.toMatch(/NaN/);

  // Shape, exactly.
  const methodKeys = { scores: SCORE_NAMES, heatmaps: HEATMAP_NAMES };
  const checkMethod = (m: Record<string, unknown>) => {
    expect(Object.keys(m.scores as object)).toEqual([...methodKeys.scores]);
    for (const s of SCORE_NAMES) expect(Object.keys((m.scores as Record<string, object>)[s])).toEqual(['plcc', 'srcc']);
    expect(Object.keys(m.heatmaps as object)).toEqual([...methodKeys.heatmaps]);
    for (const h of HEATMAP_NAMES) {
      expect(Object.keys((m.heatmaps as Record<string, object>)[h])).toEqual(['mse_all', 'mse_empty', 'cc', 'kld', 'sim', 'nss', 'auc_judd']);
    }
    expect(Object.keys(m.keywords as object)).toEqual(['precision', 'recall', 'f1']);
  };
  expect(Object.keys(j)).toEqual(['scores', 'heatmaps', 'keywords', 'baselines', 'n']);
  checkMethod(j);
  expect(Object.keys(j.baselines)).toEqual(['constant']);
  expect(Object.keys(j.baselines.constant)).toEqual(['scores', 'heatmaps', 'keywords']);
  checkMethod(j.baselines.constant);
  expect(j.n).toBe(6); // indices 9, 19, …, 59

  // Direct computation on the same data.
  const { records } = await readRichHFAll(path.join(world, 'test.tfrecord'));
  const caps = new Map(
    fs.readFileSync(path.join(world, 'captions.jsonl'), 'utf8').trim().split('\n').map((l) => {
      const r = JSON.parse(l);
      return [r.uid, r.caption] as [string, string];
    }),
  );
  const uids = records.map((r) => uidOf(r.filename));
  const prompts = uids.map((u) => caps.get(u)!);
  const images = await Promise.all(uids.map((u) => loadImage(path.join(world, 'images', `${u}.png`))));
  const model = await RewardModel.load(ckpt);
  const preds = await model.predict(images, prompts, { batchSize: 4, maxNewTokens: 24 });
  model.dispose();
  const gtMap = (r: (typeof records)[number], h: 'implausibility' | 'misalignment') => {
    const m = r[MAP_FIELD[h]];
    return { data: Array.from(m.data, (v) => v / 255), width: m.width, height: m.height };
  };
  for (const s of SCORE_NAMES) {
    const c = correlations(preds.map((p) => p.scores[s]), records.map((r) => r[SCORE_FIELD[s]]));
    close(j.scores[s].plcc, c.plcc);
    close(j.scores[s].srcc, c.srcc);
    expect(Math.abs(c.plcc)).toBeGreaterThan(0); // a random model is not constant: the check is not vacuous
  }
  for (const h of HEATMAP_NAMES) {
    const ms = records.map((r, i) => heatmapMetrics(preds[i].heatmaps![h], gtMap(r, h)));
    const empty = records.map((r) => !r[MAP_FIELD[h]].data.some((v) => v > 0));
    close(j.heatmaps[h].mse_all, mean(ms.map((m) => m.mse)));
    close(j.heatmaps[h].mse_empty, meanDefined(ms.filter((_, i) => empty[i]).map((m) => m.mse)).mean);
    close(j.heatmaps[h].cc, meanDefined(ms.map((m) => m.cc)).mean);
    close(j.heatmaps[h].kld, meanDefined(ms.map((m) => m.kld)).mean);
    close(j.heatmaps[h].sim, meanDefined(ms.map((m) => m.sim)).mean);
    close(j.heatmaps[h].nss, meanDefined(ms.map((m) => m.nss)).mean);
    close(j.heatmaps[h].auc_judd, meanDefined(ms.map((m) => m.aucJudd)).mean);
  }
  const gtWords = records.map((r, i) => {
    const labels = parseLabels(r.promptMisalignmentLabel);
    return promptWords(prompts[i]).filter((_, k) => labels[k] === 0);
  });
  expect(gtWords.flat().length).toBeGreaterThan(0);
  const kw = keywordPRF(preds.map((p) => p.misaligned!), gtWords);
  close(j.keywords.precision, kw.precision);
  close(j.keywords.recall, kw.recall);
  close(j.keywords.f1, kw.f1);

  // Constant baseline = hand-computed train means.
  const train = (await readRichHFAll(path.join(world, 'train.tfrecord'))).records;
  expect(train).toHaveLength(48);
  for (const s of SCORE_NAMES) expect(j.baselines.constant.scores[s]).toEqual({ plcc: 0, srcc: 0 }); // constant prediction
  for (const h of HEATMAP_NAMES) {
    const { width, height } = train[0][MAP_FIELD[h]];
    const meanMap = new Float64Array(width * height);
    // Sum the 8-bit values exactly, divide once: equal sums stay exactly tied, which AUC-Judd's ranking sees.
    for (const r of train) r[MAP_FIELD[h]].data.forEach((v, i) => (meanMap[i] += v));
    meanMap.forEach((v, i) => (meanMap[i] = v / (255 * train.length)));
    const ms = records.map((r) => heatmapMetrics({ data: meanMap, width, height }, gtMap(r, h)));
    const empty = records.map((r) => !r[MAP_FIELD[h]].data.some((v) => v > 0));
    const c = j.baselines.constant.heatmaps[h];
    close(c.mse_all, mean(ms.map((m) => m.mse)));
    close(c.mse_empty, meanDefined(ms.filter((_, i) => empty[i]).map((m) => m.mse)).mean);
    close(c.cc, meanDefined(ms.map((m) => m.cc)).mean);
    close(c.kld, meanDefined(ms.map((m) => m.kld)).mean);
    close(c.sim, meanDefined(ms.map((m) => m.sim)).mean);
    close(c.nss, meanDefined(ms.map((m) => m.nss)).mean);
    close(c.auc_judd, meanDefined(ms.map((m) => m.aucJudd)).mean);
    expect(c.cc).not.toBe(0); // a mean map, not a flat one
  }
  expect(j.baselines.constant.keywords).toEqual({ precision: 0, recall: 0, f1: 0 });
  expect(io.err.join('\n')).toMatch(/Constant baseline: means of 48 train samples/);
  // Metrics run at the ground truth's resolution: the tiny model's 64² heatmaps meet 32² maps here.
  expect(preds[0].heatmaps!.implausibility.width).toBe(64);
  expect(records[0].artifactMap.width).toBe(32);
});

test('the default engine (onnxruntime on this CPU) gives the tfjs engine\'s metrics', async () => {
  const run = async (engine: string) => {
    const io = capture();
    expect(await runEval({ checkpoint: ckpt, data: world, json: true, batchSize: 4, progress: false, maxNewTokens: 24, engine }, io)).toBe(0);
    return { j: JSON.parse(io.out[0]), err: io.err };
  };
  const [ort, tfjs] = [await run('auto'), await run('tfjs')];
  expect(ort.err).toContainEqual(expect.stringMatching(/^rahf: engine ort \(onnxruntime-node/));
  expect(tfjs.err).toContainEqual(expect.stringMatching(/^rahf: engine tfjs/));
  for (const s of SCORE_NAMES) {
    expect(Math.abs(ort.j.scores[s].plcc - tfjs.j.scores[s].plcc)).toBeLessThan(1e-4);
    expect(Math.abs(ort.j.scores[s].srcc - tfjs.j.scores[s].srcc)).toBeLessThan(1e-4);
  }
  for (const h of HEATMAP_NAMES) {
    for (const [k, v] of Object.entries(tfjs.j.heatmaps[h] as Record<string, number | null>)) {
      if (v === null) expect(ort.j.heatmaps[h][k]).toBeNull();
      else expect(Math.abs(ort.j.heatmaps[h][k] - v)).toBeLessThan(1e-4 * Math.max(1, Math.abs(v)));
    }
  }
  expect(ort.j.keywords).toEqual(tfjs.j.keywords);
});

test('tables: the paper layout on stdout, the tfrecord+images layout, missing images reported', async () => {
  // A RichHF-style set: a bare .tfrecord, images in a folder (one removed), captions from a JSONL.
  const imgs = path.join(tmp, 'imgs');
  fs.cpSync(path.join(world, 'images'), imgs, { recursive: true });
  const gone = 'synth-11-000019';
  fs.rmSync(path.join(imgs, `${gone}.png`));
  const clipDir = path.join(tmp, 'clip');
  fs.mkdirSync(clipDir, { recursive: true });
  const fixture = path.join(parityDir(), 'models', 'clip_tiny');
  for (const f of ['config.json', 'model.safetensors']) fs.copyFileSync(path.join(fixture, f), path.join(clipDir, f));
  writeClipTokenizer(clipDir);
  const outFile = path.join(tmp, 'tables.json');
  const io = capture();
  const code = await runEval(
    {
      checkpoint: ckpt,
      data: path.join(world, 'test.tfrecord'),
      images: imgs,
      captions: path.join(world, 'captions.jsonl'),
      clip: clipDir,
      out: outFile,
      progress: false,
      maxNewTokens: 8,
    },
    io,
  );
  expect(code).toBe(0);
  // The CLIP baseline: alignment only, equal to the cosine computed through HF-style logits_per_image.
  const j = JSON.parse(fs.readFileSync(outFile, 'utf8'));
  expect(j.n).toBe(5);
  expect(Object.keys(j.baselines)).toEqual(['constant', 'clip']);
  expect(Object.keys(j.baselines.clip)).toEqual(['scores']);
  expect(Object.keys(j.baselines.clip.scores)).toEqual(['alignment']);
  const { records } = await readRichHFAll(path.join(world, 'test.tfrecord'));
  const kept = records.filter((r) => uidOf(r.filename) !== gone);
  const caps = new Map(
    fs.readFileSync(path.join(world, 'captions.jsonl'), 'utf8').trim().split('\n').map((l) => [JSON.parse(l).uid, JSON.parse(l).caption] as [string, string]),
  );
  const clip = await loadCLIP(clipDir);
  const tok = Tokenizer.fromDir(clipDir);
  const cos: number[] = [];
  for (const r of kept) {
    const uid = uidOf(r.filename);
    const px = await preprocessCLIP(path.join(imgs, `${uid}.png`), 32);
    const enc = tok.encodeBatch([caps.get(uid)!], { maxLength: 16 });
    expect(enc.ids[0][0]).toBe(49);
    expect(enc.ids[0][enc.ids[0].length - 1]).toBe(98);
    const v = tf.tidy(() => {
      const logits = clip.logitsPerImage(tf.tensor4d(px, [1, 32, 32, 3]), tf.tensor2d(enc.ids, undefined, 'int32'), tf.tensor2d(enc.mask, undefined, 'int32'));
      return tf.div(logits, clip.logitScale());
    });
    cos.push(v.dataSync()[0]);
    v.dispose();
  }
  clip.params.dispose();
  const c = correlations(cos, kept.map((r) => r.misalignmentScore));
  expect(c.constant).toBe(false);
  expect(j.baselines.clip.scores.alignment.plcc).toBeCloseTo(c.plcc, 5);
  expect(j.baselines.clip.scores.alignment.srcc).toBeCloseTo(c.srcc, 5);
  const text = io.out.join('\n');
  for (const t of ['Table 1. Score prediction', 'Table 2. Implausibility heatmap', 'Table 3. Misalignment heatmap', 'Table 4. Misaligned keywords']) {
    expect(text).toContain(t);
  }
  expect(text).toMatch(/Plausibility\s+Alignment\s+Aesthetics\s+Overall/);
  expect(text).toMatch(/MSE all ↓\s+MSE empty ↓\s+CC ↑\s+KLD ↓\s+SIM ↑\s+NSS ↑\s+AUC-Judd ↑/);
  expect(text).toMatch(/RAHF \(this checkpoint\)/);
  expect(text).toMatch(/CLIP cosine\s+—\s+—\s+-?\d\.\d{3}\s+-?\d\.\d{3}\s+—\s+—\s+—\s+—\n/);
  expect(text).toMatch(/Constant \(eval-set mean\)/); // no --train: falls back and says so
  expect(text).toMatch(/no train split available/i);
  expect(text).toMatch(/1 of 6 records have no image and were skipped \(synth-11-000019\)/);
  expect(text).toMatch(/on 5 samples of/);
  expect(text).not.toMatch(/NaN/);
  expect(io.err.join('\n')).toMatch(/1 of 6 records have no image \(skipped\)/);
  // Rows line up: every row of Table 1 has the same width as its header.
  const lines = text.split('\n');
  const t1 = lines.indexOf('Table 1. Score prediction (PLCC / SRCC, higher is better)');
  const header = lines[t1 + 2];
  expect(lines[t1 + 4].length).toBe(header.length);
});

test('bad input gives one-line errors', async () => {
  const io = capture();
  const run = (o: Partial<Parameters<typeof runEval>[0]>) => runEval({ checkpoint: ckpt, data: world, progress: false, ...o }, io);
  await expect(run({ data: path.join(tmp, 'nope') })).rejects.toThrow(/nope: no such file or directory$/);
  await expect(run({ data: path.join(world, 'test.tfrecord') })).rejects.toThrow(
    /test\.tfrecord: a TFRecord file needs --images <folder> and\/or --parquet <files> for its images/,
  );
  await expect(run({ split: 'val' })).rejects.toThrow(/no val\.tfrecord/);
  const empty = path.join(tmp, 'empty-imgs');
  fs.mkdirSync(empty, { recursive: true });
  await expect(run({ data: path.join(world, 'test.tfrecord'), images: empty })).rejects.toThrow(/none of its 6 records has an image/);
  await expect(run({ data: path.join(world, 'test.tfrecord'), images: path.join(world, 'images') })).rejects.toThrow(
    /no record has both an image and a prompt/,
  );
  await expect(run({ batchSize: 0 })).rejects.toThrow(/--batch-size must be an integer >= 1/);
  for (const bad of [{ data: path.join(tmp, 'nope') }, { split: 'val' }, { batchSize: -1 }]) {
    const e = await run(bad).catch((x) => x);
    expect(e).toBeInstanceOf(UserError);
    expect(e.message.split('\n')).toHaveLength(1);
  }
  const notJson = path.join(tmp, 'bad-captions.jsonl');
  fs.writeFileSync(notJson, '{"uid": "a", "caption": "x"}\nnot json\n');
  await expect(run({ captions: notJson })).rejects.toThrow(/bad-captions\.jsonl:2: not valid JSON/);
});
