import * as fs from 'fs';
import * as os from 'os';
import * as path from 'path';
import * as tf from '@tensorflow/tfjs';
import * as ort from 'onnxruntime-node';
import { initBackend } from '../backend';
import { RgbImage } from '../image';
import { readSafetensors } from '../io/safetensors';
import { compare, expectClose, parityDir } from '../parity/fixtures';
import { HEATMAP_NAMES, SCORE_NAMES } from '../rahf/config';
import { markTokenId } from '../rahf/keywords';
import { RewardModel } from '../rahf/model';
import { exportOnnx, exportRahf, manifestPath } from './export';
import { encodeModel } from './proto';
import { OnnxScorer } from './onnx-scorer';
import { int64 } from './feeds';
import { runExport } from '../cli/export';
import { synthTokenizerFile } from '../train/tokenizer-build';

// RAHF exported to ONNX and run by OnnxScorer against the tfjs model (RewardModel.forward /
// generateKeywordIds) on both youweiliang parity fixtures and a random `tiny` preset model, and
// against the PyTorch outputs stored in the fixtures.

const FIX = parityDir();
const TOKENIZER = path.join(FIX, 'rahf', 't5', 'tokenizer.json');

let tmp: string;
beforeAll(async () => {
  await initBackend();
  tmp = fs.mkdtempSync(path.join(os.tmpdir(), 'onnx-rahf-'));
});
afterAll(() => fs.rmSync(tmp, { recursive: true, force: true }));

const measured: string[] = [];
afterAll(() => {
  if (measured.length) console.log(`onnx RAHF max errors:\n${measured.join('\n')}`);
});

function check(label: string, actual: ArrayLike<number>, expected: ArrayLike<number>, tol = 1e-4): void {
  measured.push(`${label}: ${compare(actual, expected).maxErr.toExponential(2)}`);
  expectClose(label, actual, expected, tol);
}

interface Case {
  name: string;
  load: () => Promise<RewardModel>;
  pixels: () => tf.Tensor4D;
  prompts: string[];
  /** PyTorch outputs (fixture cases). */
  io?: Map<string, { data: ArrayLike<number> }>;
}

function fixtureCase(name: string): Case {
  const dir = path.join(FIX, 'rahf', name);
  const io = readSafetensors(path.join(dir, 'io.safetensors'));
  const t = io.get('pixel_values_nchw')!;
  return {
    name,
    load: () => RewardModel.load(dir),
    pixels: () => tf.tidy(() => tf.tensor4d(t.data as Float32Array, t.shape as [number, number, number, number]).transpose([0, 2, 3, 1])),
    prompts: JSON.parse(fs.readFileSync(path.join(dir, 'config.json'), 'utf8')).captions,
    io,
  };
}

const CASES: Case[] = [
  fixtureCase('rahf_yl_multi'),
  fixtureCase('rahf_yl_aug'),
  {
    name: 'tiny',
    load: () => RewardModel.fromPreset('tiny', { tokenizer: TOKENIZER, seed: 3 }),
    pixels: () => tf.randomUniform([3, 128, 128, 3], -1, 1, 'float32', 7) as tf.Tensor4D,
    // Different lengths: the masked preset must ignore the padding exactly as tfjs does.
    prompts: ['a red cat', 'two dogs playing in the snow at night under a full moon', 'a tree'],
  },
  {
    // The tiny layout before its conv stem (8-pixel patch embedding), as earlier tiny checkpoints have.
    name: 'tiny-no-stem',
    load: () => RewardModel.fromPreset('tiny', { tokenizer: TOKENIZER, seed: 4, imageStem: [] }),
    pixels: () => tf.randomUniform([3, 128, 128, 3], -1, 1, 'float32', 8) as tf.Tensor4D,
    prompts: ['a blue house', 'three red apples on a table', 'a cat'],
  },
  {
    // The tiny layout before the stem skip (the stem feeds only the ViT), as earlier tiny checkpoints have.
    name: 'tiny-stem-no-skip',
    load: () => RewardModel.fromPreset('tiny', { tokenizer: TOKENIZER, seed: 5, imageStemSkip: false }),
    pixels: () => tf.randomUniform([3, 128, 128, 3], -1, 1, 'float32', 9) as tf.Tensor4D,
    prompts: ['a green bird on a fence', 'a dog', 'four yellow cars parked by a river'],
  },
  {
    // The tiny layout before its caption pooling (rahf/caption-pool.ts), as the bundled checkpoint has.
    name: 'tiny-no-caption-pool',
    load: () => RewardModel.fromPreset('tiny', { tokenizer: TOKENIZER, seed: 6, captionPool: false }),
    pixels: () => tf.randomUniform([3, 128, 128, 3], -1, 1, 'float32', 10) as tf.Tensor4D,
    prompts: ['one purple balloon at the top', 'a fish', 'two brown boxes on the left and a white car in the snow'],
  },
  {
    // Word grounding (rahf/word-grounding.ts): the caption states the decoder and the pooling read attend to the image.
    name: 'tiny-word-grounding',
    load: () => RewardModel.fromPreset('tiny', { tokenizer: TOKENIZER, seed: 11, wordGrounding: true }),
    pixels: () => tf.randomUniform([3, 128, 128, 3], -1, 1, 'float32', 12) as tf.Tensor4D,
    prompts: ['three red apples in a room', 'a cat', 'a blue car on the right and two green trees at night'],
  },
];

for (const c of CASES) {
  describe(`rahf ${c.name}`, () => {
    let model: RewardModel;
    let pixels: tf.Tensor4D;
    let scorer: OnnxScorer;
    let px: Float32Array;
    beforeAll(async () => {
      model = await c.load();
      pixels = c.pixels();
      px = Float32Array.from(pixels.dataSync());
      exportRahf(model, path.join(tmp, c.name, 'model.onnx'), { heatmaps: true });
      scorer = await OnnxScorer.create(path.join(tmp, c.name), { threads: 2, heatmaps: true });
    });
    afterAll(async () => {
      await scorer?.dispose();
      pixels?.dispose();
      model?.dispose();
    });

    test('export writes the graphs, tokenizer and manifest', () => {
      const files = fs.readdirSync(path.join(tmp, c.name)).sort();
      const graphs = ['model.decoder.onnx', 'model.decoder_init.onnx', 'model.heatmaps.onnx', 'model.onnx', ...(model.config.variant === 'multi_head' ? [] : ['model.encoder.onnx'])];
      expect(files).toEqual(expect.arrayContaining([...graphs, 'model.rahf.json', 'tokenizer.json']));
      expect(files.some((f) => f.includes('.tmp-'))).toBe(false);
      expect(scorer.manifest.files.heatmaps).toBe('model.heatmaps.onnx');
    });

    test('scores-only and heatmap graphs equal tfjs forward within 1e-4', async () => {
      const ref = model.forward(pixels, c.prompts, { heatmaps: true });
      for (const heat of [false, true]) {
        const out = await scorer.run(px, c.prompts, { heatmaps: heat });
        for (const t of SCORE_NAMES) {
          check(`${c.name}/${heat ? 'heatmaps-graph' : 'scores-graph'}/score_${t}`, out.scores[t], ref.scores[t].dataSync());
          if (c.io) check(`${c.name}/score_${t} vs PyTorch`, out.scores[t], c.io.get(`score_${t}`)!.data);
        }
        if (heat) {
          for (const t of HEATMAP_NAMES) {
            check(`${c.name}/heatmap_${t}`, out.heatmaps![t], ref.heatmaps![t].dataSync());
            if (c.io) check(`${c.name}/heatmap_${t} vs PyTorch`, out.heatmaps![t], c.io.get(`heatmap_${t}`)!.data);
          }
        }
      }
      tf.dispose(ref as unknown as tf.TensorContainer);
    });

    test('the heatmaps graph one image at a time (the default) gives what one batch gives', async () => {
      expect(scorer.heatmapBatchSize).toBe(1);
      const whole = await OnnxScorer.create(path.join(tmp, c.name), { threads: 2, heatmaps: true, heatmapBatchSize: 8 });
      try {
        const [a, b] = [await scorer.run(px, c.prompts, { heatmaps: true, caption: true }), await whole.run(px, c.prompts, { heatmaps: true, caption: true })];
        for (const t of SCORE_NAMES) expectClose(`split/score_${t}`, a.scores[t], b.scores[t], 1e-5);
        for (const t of HEATMAP_NAMES) expectClose(`split/heatmap_${t}`, a.heatmaps![t], b.heatmaps![t], 1e-5);
        expect(a.encoderHidden!.dims).toEqual(b.encoderHidden!.dims);
        expectClose('split/encoder_hidden', a.encoderHidden!.data as Float32Array, b.encoderHidden!.data as Float32Array, 1e-5);
      } finally {
        await whole.dispose();
      }
    });

    test('keyword decoding through ORT equals generateKeywordIds exactly', async () => {
      const want = await model.generateKeywordIds(pixels, c.prompts, 8);
      expect(await scorer.generateKeywordIds(px, c.prompts, 8)).toEqual(want);
    });

    test('cached decoder steps give the logits of the tfjs teacher-forced decoder at each position', async () => {
      const out = await scorer.run(px, c.prompts, { caption: true });
      const dir = path.join(tmp, c.name);
      const init = await ort.InferenceSession.create(path.join(dir, 'model.decoder_init.onnx'));
      const step = await ort.InferenceSession.create(path.join(dir, 'model.decoder.onnx'));
      const cfg = model.config.t5;
      const ids = [
        [0, 5, 17, 3],
        [0, 9, 9, 1],
        [0, 2, 40, 11],
      ];
      const hidden = tf.tensor3d(out.encoderHidden!.data as Float32Array, out.encoderHidden!.dims as [number, number, number]);
      const mask = tf.tensor2d(Int32Array.from(out.captionMask!.data as BigInt64Array, Number), out.captionMask!.dims as [number, number], 'int32');
      const full = model.t5.decode(tf.tensor2d(ids, undefined, 'int32'), hidden, model.config.maskTextPadding ? mask : undefined);
      const cross = await init.run({ encoder_hidden_states: out.encoderHidden! });
      const feeds: Record<string, ort.Tensor> = { ...cross };
      const empty = new ort.Tensor('float32', new Float32Array(0), [3, cfg.num_heads, 0, cfg.d_kv]);
      for (let i = 0; i < cfg.num_decoder_layers; i++) feeds[`past_key_${i}`] = feeds[`past_value_${i}`] = empty;
      if (step.inputNames.includes('encoder_attention_mask')) feeds.encoder_attention_mask = out.captionMask!;
      for (let t = 0; t < 4; t++) {
        feeds.decoder_input_ids = int64(ids.map((r) => [r[t]]));
        const r = await step.run(feeds);
        expect(r.present_key_0.dims).toEqual([3, cfg.num_heads, t + 1, cfg.d_kv]);
        const want = tf.tidy(() => tf.slice(full, [0, t, 0], [3, 1, -1]).reshape([-1]).dataSync());
        check(`${c.name}/decoder step ${t} logits`, r.logits.data as Float32Array, want);
        for (let i = 0; i < cfg.num_decoder_layers; i++) {
          feeds[`past_key_${i}`] = r[`present_key_${i}`];
          feeds[`past_value_${i}`] = r[`present_value_${i}`];
        }
      }
      tf.dispose([hidden, mask, full]);
      await Promise.all([init.release(), step.release()]);
    });
  });
}

test("the config's keyword mark bias steers greedy decoding the same way in tfjs and through the exported decoder", async () => {
  // The synthetic world's tokenizer has a `_0` piece (the fixture tokenizer above maps it to <unk>).
  const model = await RewardModel.fromPreset('tiny', { tokenizer: synthTokenizerFile(), seed: 8 });
  const pixels = tf.randomUniform([2, 128, 128, 3], -1, 1, 'float32', 3) as tf.Tensor4D;
  const prompts = ['a red cat', 'two trees'];
  const px = Float32Array.from(pixels.dataSync());
  const mark = markTokenId((t) => model.tokenizer.encode(t));
  try {
    const plain = await model.generateKeywordIds(pixels, prompts, 6);
    // A bias far above any logit of a random model: the mark wins every step.
    (model.config as { keywordMarkBias: number }).keywordMarkBias = 40;
    const biased = await model.generateKeywordIds(pixels, prompts, 6);
    expect(biased).toEqual(prompts.map(() => [model.config.t5.decoder_start_token_id, ...Array(6).fill(mark)]));
    expect(plain).not.toEqual(biased);
    expect(await model.generateKeywordIds(pixels, prompts, 6, 0)).toEqual(plain); // per-call override
    exportRahf(model, path.join(tmp, 'biased', 'model.onnx'));
    const scorer = await OnnxScorer.create(path.join(tmp, 'biased'), { threads: 1 });
    try {
      expect(scorer.config.keywordMarkBias).toBe(40);
      expect(await scorer.generateKeywordIds(px, prompts, 6)).toEqual(biased);
    } finally {
      await scorer.dispose();
    }
  } finally {
    pixels.dispose();
    model.dispose();
  }
});

describe('OnnxScorer.score', () => {
  let model: RewardModel;
  let scorer: OnnxScorer;
  const dir = () => path.join(tmp, 'score');
  beforeAll(async () => {
    model = await RewardModel.fromPreset('tiny', { tokenizer: TOKENIZER, seed: 2 });
    exportRahf(model, path.join(dir(), 'tiny.onnx'));
    scorer = await OnnxScorer.create(path.join(dir(), 'tiny.onnx'), { threads: 1, batchSize: 2 });
  });
  afterAll(async () => {
    await scorer?.dispose();
    model?.dispose();
  });

  function image(w: number, h: number, seed: number): RgbImage {
    const data = new Float32Array(w * h * 3);
    for (let i = 0; i < data.length; i++) data[i] = ((i * 2654435761 + seed * 97) % 251) / 255;
    return { data, width: w, height: h };
  }

  test('decoded images in batches match RewardModel.predict (scores and keywords)', async () => {
    const imgs = [image(150, 100, 1), image(90, 120, 2), image(128, 128, 3)];
    const prompts = ['a red cat', 'a blue car on a road', 'a tree'];
    const want = await model.predict(imgs, prompts, { heatmaps: false, keywords: true, maxNewTokens: 4, batchSize: 3 });
    const got = await scorer.score(imgs, prompts, { keywords: true, maxNewTokens: 4 });
    expect(got.length).toBe(3);
    for (let i = 0; i < 3; i++) {
      for (const t of SCORE_NAMES) expect(Math.abs(got[i].scores[t] - want[i].scores[t])).toBeLessThan(1e-4);
      expect(got[i].heatmaps).toBeUndefined();
      expect(got[i].keywordSequence).toBe(want[i].keywordSequence);
      expect(got[i].misaligned).toEqual(want[i].misaligned);
    }
  });

  test('[0,1] pixel arrays of another size are resized and normalised like RewardModel.preprocess', async () => {
    const x = tf.randomUniform([2, 96, 80, 3], 0, 1, 'float32', 11) as tf.Tensor4D;
    const ref = tf.tidy(() => model.forward(model.preprocess(x), ['a', 'b c'], { heatmaps: false }).scores.overall.dataSync());
    const got = await scorer.score(Float32Array.from(x.dataSync()), ['a', 'b c'], { size: [96, 80] });
    check('tiny/score from pixels01 96x80', got.map((r) => r.scores.overall), ref);
    x.dispose();
  });

  test('clear errors for missing heatmaps, bad sizes and bad options', async () => {
    await expect(OnnxScorer.create(dir(), { heatmaps: true })).rejects.toThrow(/exported without heatmaps/);
    await expect(scorer.score(new Float32Array(10), ['a'])).rejects.toThrow(/pixel array holds 10 values, expected 1×128×128×3/);
    await expect(scorer.score([image(10, 10, 1)], ['a', 'b'])).rejects.toThrow(/1 images but 2 prompts/);
    await expect(OnnxScorer.create(path.join(tmp, 'nowhere'))).rejects.toThrow(/no such file or directory/);
    await expect(OnnxScorer.create(dir(), { threads: 0 })).rejects.toThrow(/threads must be a positive integer/);
  });

  test('int8 quantised export runs; its score error is reported', async () => {
    exportRahf(model, path.join(tmp, 'int8', 'model.onnx'), { quantize: 'int8' });
    const q = await OnnxScorer.create(path.join(tmp, 'int8'), { threads: 1 });
    const x = tf.randomUniform([4, 128, 128, 3], -1, 1, 'float32', 13) as tf.Tensor4D;
    const px = Float32Array.from(x.dataSync());
    const prompts = ['a red cat', 'two dogs', 'a tree in a field', 'a boat'];
    const [a, b] = [await scorer.run(px, prompts), await q.run(px, prompts)];
    let max = 0;
    for (const t of SCORE_NAMES) for (let i = 0; i < 4; i++) max = Math.max(max, Math.abs(a.scores[t][i] - b.scores[t][i]));
    measured.push(`tiny/int8 vs fp32 scores (max abs diff, reported only): ${max.toExponential(2)}`);
    expect(Number.isFinite(max)).toBe(true);
    expect(max).toBeLessThan(0.1); // a broken quantisation gives unrelated scores
    const ops = new Set((await import('./proto')).decodeModel(fs.readFileSync(path.join(tmp, 'int8', 'model.onnx'))).graph.node.map((n: any) => n.op_type));
    expect(ops.has('MatMulInteger') && ops.has('DynamicQuantizeLinear')).toBe(true);
    x.dispose();
    await q.dispose();
  });
});

describe('rahf export (runExport)', () => {
  test('writes an external data file above the threshold and the scorer reads it', async () => {
    const ckpt = path.join(tmp, 'ckpt');
    const model = await RewardModel.fromPreset('tiny', { tokenizer: TOKENIZER, seed: 4 });
    await model.save(ckpt);
    const out = path.join(tmp, 'cli', 'm.onnx');
    const lines: string[] = [];
    await runExport({ checkpoint: ckpt, out, externalDataThreshold: 100_000, log: (l) => lines.push(l) });
    expect(fs.existsSync(`${out}.data`)).toBe(true);
    expect(fs.existsSync(manifestPath(out))).toBe(true);
    expect(lines.some((l) => l.includes('m.onnx.data'))).toBe(true);
    const scorer = await OnnxScorer.create(out, { threads: 1 });
    const x = tf.randomUniform([1, 128, 128, 3], -1, 1, 'float32', 5) as tf.Tensor4D;
    const got = await scorer.run(Float32Array.from(x.dataSync()), ['a cat']);
    const ref = model.forward(x, ['a cat'], { heatmaps: false });
    for (const t of SCORE_NAMES) check(`cli external-data/score_${t}`, got.scores[t], ref.scores[t].dataSync());
    await scorer.dispose();
    tf.dispose([x, ref as unknown as tf.TensorContainer]);
    model.dispose();
    await expect(runExport({ checkpoint: ckpt, out: path.join(tmp, 'x.bin') })).rejects.toThrow(/must name a .onnx file/);
    await expect(runExport({ checkpoint: ckpt, out, quantize: 'int4' })).rejects.toThrow(/only "int8"/);
  });

  test('exportOnnx rahf kinds build standalone graphs', async () => {
    const model = await RewardModel.fromPreset('tiny', { tokenizer: TOKENIZER, seed: 1 });
    const s = await ort.InferenceSession.create(encodeModel(exportOnnx(model, 'rahf-encoder')));
    expect(s.inputNames).toEqual(['pixel_values', 'input_ids', 'attention_mask']);
    expect(s.outputNames).toEqual(['encoder_hidden']);
    await s.release();
    model.dispose();
  });
});
