import * as fs from 'fs';
import * as os from 'os';
import * as path from 'path';
import { FileFormatError, LimitError, UserError } from '../errors';
import { consolidateImage, RawAnnotation } from '../data/consolidate';
import { readRichHFAll } from '../data/richhf';
import { readTFRecords } from '../data/tfrecord';
import { loadImage } from '../image';
import { readTorchCheckpoint } from '../io/torch-pickle';
import { loadParts } from '../rahf/checkpoint';
import { initBackend } from '../backend';
import { Tokenizer } from '../tokenizer';
import { MALICIOUS_PICKLES, maliciousZip } from './malicious';
import { REPRODUCERS, zeroPng } from './reproducers';
import { runCase, scratchRoot, targetByName } from './run-case';

// Issue 27's inputs, in-process: each ends in the package's UserError naming the file, fast. (`pnpm fuzz`
// runs the same through the CLI in child processes with exit-code, time and memory bounds.)
let tmp: string;
beforeAll(async () => {
  await initBackend('cpu');
  tmp = fs.mkdtempSync(path.join(os.tmpdir(), 'rahf-repro-'));
});
afterAll(() => fs.rmSync(tmp, { recursive: true, force: true }));

async function refusal(p: Promise<unknown> | (() => unknown), names: string): Promise<UserError> {
  const t0 = Date.now();
  let err: unknown;
  try {
    await (typeof p === 'function' ? p() : p);
  } catch (e) {
    err = e;
  }
  expect(Date.now() - t0).toBeLessThan(5000);
  expect(err).toBeInstanceOf(UserError);
  const msg = (err as Error).message;
  expect(msg).toContain(names);
  expect(msg).not.toContain('\n');
  return err as UserError;
}

/** The CLI reproducer `name`, built in its own folder: what it names. */
async function built(name: string): Promise<string> {
  const r = REPRODUCERS.find((x) => x.name.startsWith(name))!;
  const dir = fs.mkdtempSync(path.join(tmp, 'r-'));
  return (await r.make(dir)).names;
}

test('a 16-byte TFRecord claiming 2^31−4 bytes is truncated, not an abort', async () => {
  const f = await built('TFRecord of 16 bytes');
  const e = await refusal((async () => { for await (const _ of readTFRecords(f)); })(), f);
  expect(e.message).toMatch(/record 0: truncated \(expected 2147483660 bytes, file ends after 16\)/);
});

test('config sizes are bounded and checked against the weights before anything is allocated', async () => {
  for (const [name, re] of [
    ['config.json with t5.num_decoder_layers', /t5\.num_decoder_layers must be an integer from 1 to 1024, got 2000000000/],
    ['config.json with image_std', /image_std: every value must be a finite number > 0/],
    ['checkpoint folder without config.json', /no config\.json, and the weights are not a youweiliang\/RichHF checkpoint/],
    ['tokenizer.json with unk_id', /model\.unk_id -1 is not an index/],
  ] as const) {
    const dir = fs.mkdtempSync(path.join(tmp, 'c-'));
    const r = REPRODUCERS.find((x) => x.name.startsWith(name))!;
    await r.make(dir);
    const e = await refusal(loadParts(path.join(dir, 'ckpt')), path.join(dir, 'ckpt'));
    expect(e.message).toMatch(re);
  }
});

test('FIFOs and devices are refused by type before reading; pixel bombs by their header', async () => {
  const fifo = await built('a FIFO');
  expect((await refusal(loadImage(fifo), fifo)).message).toMatch(/is a FIFO \(named pipe\), not an image/);
  const zero = await built('a symlink');
  expect((await refusal(loadImage(zero), zero)).message).toMatch(/is a character device/);
  const bomb = await built('a 10000² PNG bomb');
  const e = await refusal(loadImage(bomb), bomb);
  expect(e).toBeInstanceOf(LimitError);
  expect(e.message).toMatch(/10000x10000 in pixels is 100000000, over the limit 36000000; raise it with --max-image-pixels or RAHF_MAX_IMAGE_PIXELS/);
  // The limit is a setting: the same check passes a 100×100 image under 10 000 pixels and refuses it under 9 999.
  const small = path.join(tmp, 'small.png');
  fs.writeFileSync(small, await zeroPng(100, 100));
  expect((await loadImage(small, undefined, { limits: { maxImagePixels: 10_000 } })).width).toBe(100);
  await refusal(loadImage(small, undefined, { limits: { maxImagePixels: 9_999 } }), small);
});

test('RichHF maps over the pixel limit are refused from their header; a bad second map leaves no unhandled rejection', async () => {
  const unhandled: unknown[] = [];
  const onUnhandled = (e: unknown) => unhandled.push(e);
  process.on('unhandledRejection', onUnhandled);
  try {
    const big = await built('RichHF TFRecord of four records');
    expect((await refusal(readRichHFAll(big), big)).message).toMatch(/artifact_map: map size 16000x16000 in pixels is 256000000, over the limit/);
    const bad = await built('RichHF record whose second map');
    expect((await refusal(readRichHFAll(bad), bad)).message).toMatch(/misalignment_map: expected bytes_list, found float_list/);
    await new Promise((r) => setTimeout(r, 200));
  } finally {
    process.off('unhandledRejection', onUnhandled);
  }
  expect(unhandled).toEqual([]);
});

describe('torch checkpoints that expanded, looped or recursed', () => {
  const cases = REPRODUCERS.filter((r) => r.name.startsWith('torch:'));
  test.each(cases.map((r) => [r.name, r] as const))('%s', async (_n, r) => {
    const dir = fs.mkdtempSync(path.join(tmp, 't-'));
    const { names } = await r.make(dir);
    await refusal(() => readTorchCheckpoint(names), names);
  });
});

describe('the 30 classes of malicious pickle stay refused', () => {
  test.each(MALICIOUS_PICKLES.map((m) => [m.name, m.pickle] as const))('%s', (name, pickle) => {
    const f = path.join(tmp, `evil-${name.replace(/[^a-z0-9]+/gi, '_')}.pt`);
    fs.writeFileSync(f, maliciousZip(pickle));
    let err: unknown;
    try {
      readTorchCheckpoint(f);
    } catch (e) {
      err = e;
    }
    expect(err).toBeInstanceOf(FileFormatError);
    expect((err as Error).message).toMatch(new RegExp(`^${f.replace(/[.*+?^${}()|[\]\\]/g, '\\$&')}: (refusing|unsupported|invalid storage key|malformed pickle)`));
  });
  test('there are thirty', () => expect(new Set(MALICIOUS_PICKLES.map((m) => m.name)).size).toBe(30));
});

test('consolidation counts 65 536 annotators of one image without wrapping', () => {
  const n = 65_536;
  const group: RawAnnotation[] = Array.from({ length: n }, (_, i) => ({
    uid: 'u', prompt: 'a cat', annotator: `a${i}`, width: 8, height: 8, artifact_points: [[4, 4]], misalignment_points: [],
    plausibility: 3, alignment: 3, aesthetics: 3, overall: 3, misaligned_words: [],
  }));
  const c = consolidateImage(group, { mapSize: 8, radiusFraction: 1 });
  expect(c.record.artifactMap.data[4 * 8 + 4]).toBe(255);
});

// Crashes the fuzzer found while this suite was written: each stays a regression case.
describe('fuzz regressions', () => {
  test.each([
    ['parquet', 20261246, 'an RLE run of 2^32 values in a page looped for ever'],
    ['parquet', 20261264, 'a page header byte set to 0x20 made hyparquet loop'],
    ['tokenizer', 3478, 'an added token id of 2^31 made the tokenizer library run for minutes'],
    ['tokenizer', 644, 'an added token id of 1 812 301 720 (the same)'],
    ['tokenizer', 19, 'a Unigram vocabulary missing a piece encoded to an id past the vocabulary'],
    ['tokenizer', 57, 'an added token id of 1.4e249 came out of encode()'],
  ] as const)('%s seed %d: %s', async (target, seed, _why) => {
    const root = scratchRoot();
    try {
      const r = await runCase(targetByName(target), seed, root);
      expect([r.verdict, r.detail]).toEqual([expect.stringMatching(/^(accepted|refused)$/), expect.anything()]);
      expect(r.ms).toBeLessThan(5000);
    } finally {
      fs.rmSync(root, { recursive: true, force: true });
    }
  });
});

test('fuzz regression: a WordLevel vocabulary with a hole (or an unknown word) never encodes to NaN', () => {
  const f = path.join(tmp, 'wordlevel', 'tokenizer.json');
  fs.mkdirSync(path.dirname(f), { recursive: true });
  const json = {
    version: '1.0', truncation: null, padding: null, added_tokens: [{ id: 1, content: '</s>', special: true, single_word: false, lstrip: false, rstrip: false, normalized: false }],
    normalizer: null, pre_tokenizer: { type: 'Whitespace' }, decoder: null,
    post_processor: { type: 'TemplateProcessing', single: [{ Sequence: { id: 'A', type_id: 0 } }, { SpecialToken: { id: '</s>', type_id: 0 } }], pair: [{ Sequence: { id: 'A', type_id: 0 } }], special_tokens: { '</s>': { id: '</s>', ids: [1], tokens: ['</s>'] } } },
    model: { type: 'WordLevel', vocab: { '<pad>': 0, '</s>': 1, '<unk>': 2, a: 4, red: 5 }, unk_token: '<unk>' },
  };
  fs.writeFileSync(f, JSON.stringify(json));
  const tok = Tokenizer.fromFile(f);
  expect(tok.encode('a red')).toEqual([4, 5, 1]);
  expect(() => tok.encode('a red cat')).toThrow(FileFormatError);
  expect(() => tok.encode('a red cat')).toThrow(/no token id for "cat" in "a red cat"/);
});
