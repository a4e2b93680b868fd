import * as fs from 'fs';
import * as os from 'os';
import * as path from 'path';
import * as tf from '@tensorflow/tfjs';
import { initBackend } from '../backend';
import { RgbImage } from '../image';
import { readSafetensors } from '../io/safetensors';
import { parityDir } from '../parity/fixtures';
import { HEATMAP_NAMES, SCORE_NAMES } from './config';
import { countParams, rahfParamShapes } from './init';
import { BUNDLED_TOKENIZER } from '../bundled';
import { RewardModel } from './model';

const FIX = parityDir();
const RAHF_TOKENIZER = path.join(FIX, 'rahf', 't5', 'tokenizer.json');

beforeAll(async () => {
  await initBackend();
});

function image(w: number, h: number, seed: number): RgbImage {
  const data = new Float32Array(w * h * 3);
  for (let i = 0; i < data.length; i++) data[i] = ((i * 2654435761 + seed * 97) % 251) / 255;
  return { data, width: w, height: h };
}

describe('tiny preset (random weights)', () => {
  let model: RewardModel;
  beforeAll(async () => {
    model = await RewardModel.fromPreset('tiny', { tokenizer: RAHF_TOKENIZER, seed: 1 });
  });
  afterAll(() => model?.dispose());

  test('has the preset layout and a vocabulary sized to the tokenizer', () => {
    expect(model.config.imageSize).toBe(128);
    expect(model.config.t5.vocab_size % 128).toBe(0);
    expect(model.config.t5.vocab_size).toBeGreaterThanOrEqual(model.tokenizer.vocabSize);
    expect(model.numParams).toBe(countParams(rahfParamShapes(model.config)));
    expect(model.numParams).toBeLessThan(2_000_000);
  });

  test('forward gives scores in (0,1) and heatmaps at 2^heatmap_stages × the patch grid', () => {
    const x = tf.randomUniform([2, 128, 128, 3], -1, 1, 'float32', 3) as tf.Tensor4D;
    const out = model.forward(x, ['a red cat', 'two dogs playing in the snow at night']);
    for (const t of SCORE_NAMES) {
      expect(out.scores[t].shape).toEqual([2]);
      const v = out.scores[t].dataSync();
      expect(v.every((s) => s > 0 && s < 1)).toBe(true);
    }
    const side = (128 / model.config.patchSize) * 2 ** model.config.heatmapStages;
    for (const t of HEATMAP_NAMES) expect(out.heatmaps![t].shape).toEqual([2, side, side]);
    expect(model.forward(x, ['a', 'b'], { heatmaps: false }).heatmaps).toBeUndefined();
    tf.dispose([x, out] as unknown as tf.TensorContainer);
  });

  test('rejects inputs of the wrong size or count with a clear message', () => {
    const x = tf.zeros([1, 64, 64, 3]) as tf.Tensor4D;
    expect(() => model.forward(x, ['a'])).toThrow(/expects normalised NHWC pixels \[B, 128, 128, 3\]/);
    const y = tf.zeros([1, 128, 128, 3]) as tf.Tensor4D;
    expect(() => model.forward(y, ['a', 'b'])).toThrow(/1 images but 2 prompts/);
    tf.dispose([x, y]);
  });

  test('masked text padding: a prompt scores the same alone and beside a longer one', () => {
    const x = tf.randomUniform([2, 128, 128, 3], -1, 1, 'float32', 4) as tf.Tensor4D;
    const x0 = tf.slice(x, [0, 0, 0, 0], [1, -1, -1, -1]) as tf.Tensor4D;
    const alone = model.forward(x0, ['a cat'], { heatmaps: false });
    const batch = model.forward(x, ['a cat', 'a much longer prompt with many more words in it'], { heatmaps: false });
    for (const t of SCORE_NAMES) {
      expect(Math.abs(alone.scores[t].dataSync()[0] - batch.scores[t].dataSync()[0])).toBeLessThan(1e-5);
    }
    tf.dispose([x, x0, alone, batch] as unknown as tf.TensorContainer);
  });

  test('predict takes decoded images or a [0,1] tensor, in batches, with keywords', async () => {
    const imgs = [image(150, 100, 1), image(90, 120, 2), image(128, 128, 3)];
    const prompts = ['a red cat', 'a blue car on a road', 'a tree'];
    const fb = await model.predict(imgs, prompts, { batchSize: 2, maxNewTokens: 4 });
    expect(fb.length).toBe(3);
    for (const r of fb) {
      for (const t of SCORE_NAMES) expect(r.scores[t]).toBeGreaterThan(0);
      const side = (128 / model.config.patchSize) * 2 ** model.config.heatmapStages; // the model's map, not the image
      expect(r.heatmaps!.implausibility.width).toBe(side);
      expect(r.heatmaps!.misalignment.data.length).toBe(side * side);
      expect(typeof r.keywordSequence).toBe('string');
      expect(Array.isArray(r.misaligned)).toBe(true);
    }
    // The same images as a tensor (float resize instead of PIL's 8-bit one): close, not identical.
    const t = tf.tensor4d(imgs[2].data, [1, 128, 128, 3]);
    const [fromTensor] = await model.predict(t, [prompts[2]], { heatmaps: false, keywords: false });
    t.dispose();
    expect(fromTensor.heatmaps).toBeUndefined();
    expect(fromTensor.keywordSequence).toBeUndefined();
    for (const k of SCORE_NAMES) expect(Math.abs(fromTensor.scores[k] - fb[2].scores[k])).toBeLessThan(1e-5);
  });

  test('sequenceLoss is a finite positive scalar that rewards the right target', () => {
    const x = tf.randomUniform([2, 128, 128, 3], -1, 1, 'float32', 5) as tf.Tensor4D;
    const loss = model.sequenceLoss(x, ['a red cat', 'two dogs'], ['a red_0 cat', 'two_0 dogs']);
    expect(loss.shape).toEqual([]);
    const v = loss.dataSync()[0];
    expect(Number.isFinite(v) && v > 0).toBe(true);
    // Roughly uniform predictions of an untrained model: about ln(vocab) per token.
    expect(v).toBeGreaterThan(0.5 * Math.log(model.config.t5.vocab_size));
    tf.dispose([x, loss]);
  });

  test('no tensors leak from forward, predict, generate, scoreGrad and sequenceLoss', async () => {
    const x = tf.randomUniform([1, 128, 128, 3], 0, 1, 'float32', 11) as tf.Tensor4D;
    const before = tf.memory().numTensors;
    const out = model.forward(x, ['a cat']);
    tf.dispose(out as unknown as tf.TensorContainer);
    await model.predict(x, ['a cat'], { maxNewTokens: 3 });
    await model.generateKeywords(x, ['a cat'], 3);
    const { grad } = await model.scoreGrad(x, ['a cat'], { overall: 1 });
    grad.dispose();
    model.sequenceLoss(x, ['a cat'], ['a cat_0']).dispose();
    expect(tf.memory().numTensors).toBe(before);
    x.dispose();
  });

  test('scoreGrad only needs the score path and returns a finite gradient', async () => {
    const x = tf.randomUniform([1, 96, 160, 3], 0, 1, 'float32', 6) as tf.Tensor4D;
    const { scores, grad } = await model.scoreGrad(x, ['a red cat'], { aesthetics: 1 });
    expect(grad.shape).toEqual([1, 96, 160, 3]);
    expect((grad.dataSync() as Float32Array).every(Number.isFinite)).toBe(true);
    expect(Object.keys(scores).sort()).toEqual([...SCORE_NAMES].sort());
    await expect(model.scoreGrad(x, ['a'], { beauty: 1 } as never)).rejects.toThrow(/unknown score "beauty"/);
    await expect(model.scoreGrad(x, ['a'], {})).rejects.toThrow(/at least one score/);
    tf.dispose([x, grad]);
  });
});

test('trainable end to end: every parameter gets a finite gradient on the active backend', async () => {
  const m = await RewardModel.fromPreset('tiny', { tokenizer: RAHF_TOKENIZER, seed: 2, trainable: true });
  const x = tf.randomUniform([2, 128, 128, 3], -1, 1, 'float32', 9) as tf.Tensor4D;
  const prompts = ['a red cat', 'two dogs in the snow'];
  try {
    const { value, grads } = tf.variableGrads(() => {
      const out = m.forward(x, prompts);
      let l: tf.Tensor = m.sequenceLoss(x, prompts, ['a red_0 cat', 'two dogs_0 in the snow']);
      for (const t of SCORE_NAMES) l = tf.add(l, tf.mean(out.scores[t]));
      for (const t of HEATMAP_NAMES) l = tf.add(l, tf.mean(out.heatmaps![t]));
      return l as tf.Scalar;
    }, [...m.params.tensors.values()]);
    const missing = [...m.params.tensors].filter(([, v]) => !grads[v.name]).map(([k]) => k);
    expect(missing).toEqual([]);
    const bad = [...m.params.tensors].filter(([, v]) => !(grads[v.name].dataSync() as Float32Array).every(Number.isFinite)).map(([k]) => k);
    expect(bad).toEqual([]);
    tf.dispose([value, ...Object.values(grads)]);
  } finally {
    x.dispose();
    m.dispose();
  }
});

test('the seed decides the random weights', async () => {
  const a = await RewardModel.fromPreset('tiny', { tokenizer: RAHF_TOKENIZER, seed: 7 });
  const b = await RewardModel.fromPreset('tiny', { tokenizer: RAHF_TOKENIZER, seed: 7 });
  const c = await RewardModel.fromPreset('tiny', { tokenizer: RAHF_TOKENIZER, seed: 8 });
  try {
    for (const name of ['vit.encoder.layer.0.attention.attention.query.weight', 't5.shared.weight', 'score_predictor.overall.linear_layers.0.weight']) {
      expect(b.params.get(name).dataSync()).toEqual(a.params.get(name).dataSync());
      expect(c.params.get(name).dataSync()).not.toEqual(a.params.get(name).dataSync());
    }
    // HF-like scales: ViT weights N(0, 0.02), T5 shared N(0, 1).
    const std = (name: string) => tf.tidy(() => Math.sqrt(tf.moments(a.params.get(name)).variance.dataSync()[0]));
    expect(std('vit.encoder.layer.0.attention.attention.query.weight')).toBeCloseTo(0.02, 2);
    expect(std('t5.shared.weight')).toBeCloseTo(1, 1);
  } finally {
    [a, b, c].forEach((m) => m.dispose());
  }
});

test('towers start from HF checkpoints (ViT interpolated to the preset grid) and need a tokenizer', async () => {
  const vitDir = path.join(FIX, 'models', 'vit_tiny');
  const t5Dir = path.join(FIX, 'models', 't5_tiny_relu');
  await expect(RewardModel.fromPreset('tiny', { t5: t5Dir.replace('t5_tiny_relu', 'nope') })).rejects.toThrow(/nope/);
  // Without a tokenizer or a T5 checkpoint the bundled synthetic-world tokenizer is used.
  const bare = await RewardModel.fromPreset('tiny', {});
  expect(bare.tokenizer.file).toBe(BUNDLED_TOKENIZER);
  bare.dispose();
  const m = await RewardModel.fromPreset('tiny', { vit: vitDir, t5: t5Dir, tokenizer: path.join(FIX, 'tokenizer', 'tokenizer.json') });
  try {
    expect(m.config.vit.hidden_size).toBe(32);
    expect(m.config.t5.d_model).toBe(32);
    // The checkpoint's 16-pixel patches replace the preset's 8 (the preset's 128-pixel input stays).
    expect([m.config.patchSize, m.config.imageSize]).toEqual([16, 128]);
    const vit = readSafetensors(path.join(vitDir, 'model.safetensors'));
    const t5 = readSafetensors(path.join(t5Dir, 'model.safetensors'));
    expect([...m.params.get('vit.embeddings.cls_token').dataSync()]).toEqual([...vit.get('embeddings.cls_token')!.data]);
    expect([...m.params.get('t5.shared.weight').dataSync()]).toEqual([...t5.get('shared.weight')!.data]);
    const x = tf.zeros([1, 128, 128, 3]) as tf.Tensor4D;
    const out = m.forward(x, ['hello'], { heatmaps: false });
    expect(out.scores.overall.shape).toEqual([1]);
    tf.dispose([x, out] as unknown as tf.TensorContainer);
  } finally {
    m.dispose();
  }
});

test('a bare youweiliang state_dict (.pt, no config.json) loads with its layout read off the shapes', async () => {
  const tmp = fs.mkdtempSync(path.join(os.tmpdir(), 'rahf-pt-'));
  try {
    const file = path.join(tmp, 'rahf_model.pt');
    fs.copyFileSync(path.join(FIX, 'rahf', 'rahf_yl_multi', 'model.pt'), file);
    await expect(RewardModel.load(file)).rejects.toThrow(/no tokenizer\.json .*pass the tokenizer option/);
    const m = await RewardModel.load(file, { tokenizer: RAHF_TOKENIZER });
    const ref = await RewardModel.load(path.join(FIX, 'rahf', 'rahf_yl_multi'));
    try {
      expect(m.config.variant).toBe('multi_head');
      expect(m.numParams).toBe(ref.numParams);
      expect(m.params.get('heatmap_predictor.misalignment.last_conv2.weight').dataSync()).toEqual(
        ref.params.get('heatmap_predictor.misalignment.last_conv2.weight').dataSync(),
      );
    } finally {
      m.dispose();
      ref.dispose();
    }
  } finally {
    fs.rmSync(tmp, { recursive: true, force: true });
  }
});

test('load refuses a checkpoint that does not fit its config, naming the parameter', async () => {
  const tmp = fs.mkdtempSync(path.join(os.tmpdir(), 'rahf-bad-'));
  try {
    const multi = JSON.parse(fs.readFileSync(path.join(FIX, 'rahf', 'rahf_yl_multi', 'config.json'), 'utf8'));
    fs.writeFileSync(path.join(tmp, 'config.json'), JSON.stringify({ ...multi, vit: path.join(FIX, 'rahf', 'vit'), t5: path.join(FIX, 'rahf', 't5') }));
    fs.copyFileSync(path.join(FIX, 'rahf', 'rahf_yl_aug', 'model.safetensors'), path.join(tmp, 'model.safetensors'));
    await expect(RewardModel.load(tmp)).rejects.toThrow(/unexpected parameter "heatmap_predictor\.conv_layers\.0\.bias"|unexpected parameter/);
    await expect(RewardModel.load(path.join(tmp, 'missing'))).rejects.toThrow(/missing/);
  } finally {
    fs.rmSync(tmp, { recursive: true, force: true });
  }
});
