import * as path from 'path';
import * as tf from '@tensorflow/tfjs';
import { initBackend } from '../backend';
import { readSafetensors } from '../io/safetensors';
import { Params } from '../nn/params';
import { caseDirs, compare, parityDir } from '../parity/fixtures';
import { measureT5Case } from '../parity/t5-case';
import { T5Model, addLogitBias, embeddingLookup, loadT5, t5Rename, relativePositionBias, relativePositionBucket, t5ConfigFromHF } from './t5';
import { readJsonConfig } from './hf-config';

const t5Cases = caseDirs('models').filter((d) => readJsonConfig(d).model_type === 't5');
const relu = t5Cases.find((d) => path.basename(d).includes('relu'))!;

beforeAll(async () => {
  await initBackend();
});

test('fixtures cover relu and gated-gelu T5', () => {
  const kinds = t5Cases.map((d) => readJsonConfig(d).feed_forward_proj).sort();
  expect(kinds).toEqual(['gated-gelu', 'relu']);
});

for (const dir of t5Cases) {
  test(`parity ${path.basename(dir)}`, async () => {
    const errors = await measureT5Case(dir);
    // eslint-disable-next-line no-console
    console.log(`${path.basename(dir)} max errors ${JSON.stringify(errors)}`);
    expect(Object.keys(errors).sort()).toEqual(['encoder_from_embeds', 'encoder_last_hidden_state', 'greedy_generate', 'logits']);
  });
}

describe('config', () => {
  test('feed_forward_proj and output scaling follow HF', () => {
    const v11 = t5ConfigFromHF({ model_type: 't5', feed_forward_proj: 'gated-gelu', tie_word_embeddings: false });
    expect([v11.dense_act_fn, v11.is_gated_act, v11.tie_word_embeddings, v11.scale_decoder_outputs]).toEqual(['gelu_new', true, false, false]);
    const v10 = t5ConfigFromHF({});
    expect([v10.dense_act_fn, v10.is_gated_act, v10.scale_decoder_outputs, v10.num_decoder_layers, v10.decoder_start_token_id]).toEqual([
      'relu',
      false,
      true,
      6,
      0,
    ]);
    // transformers 5 writes tie_word_embeddings true and the scaling separately.
    expect(t5ConfigFromHF({ tie_word_embeddings: true, scale_decoder_outputs: false }).scale_decoder_outputs).toBe(false);
    expect(t5ConfigFromHF({ eos_token_id: [1, 7] }).eos_token_id).toBe(1);
    expect(() => t5ConfigFromHF({ feed_forward_proj: 'fancy-gelu' })).toThrow(/feed_forward_proj/);
    expect(() => t5ConfigFromHF({ model_type: 'bert' })).toThrow(/model_type/);
  });
});

describe('relative position buckets', () => {
  // Hand-computed from HF's formula with 32 buckets, max distance 128.
  test('bidirectional (encoder)', () => {
    const cases: [number, number][] = [
      [0, 0], [-1, 1], [1, 17], [-7, 7], [7, 23], [-8, 8], [8, 24],
      [-12, 9], // 8 + floor(ln 1.5 / ln 16 * 8) = 8 + 1
      [-16, 10], [16, 26], [-32, 12], [-64, 14], [-127, 15], [-128, 15], [-1000, 15], [1000, 31],
    ];
    for (const [rel, want] of cases) expect([rel, relativePositionBucket(rel, true, 32, 128)]).toEqual([rel, want]);
  });
  test('causal (decoder)', () => {
    const cases: [number, number][] = [
      [5, 0], [0, 0], [-5, 5], [-15, 15], [-16, 16],
      [-32, 21], // 16 + floor(ln 2 / ln 8 * 16) = 16 + 5
      [-64, 26], [-127, 31], [-128, 31], [-500, 31],
    ];
    for (const [rel, want] of cases) expect([rel, relativePositionBucket(rel, false, 32, 128)]).toEqual([rel, want]);
  });
  test('bias matrix equals a direct per-element lookup', () => {
    const nb = 32;
    const h = 3;
    const table = tf.randomNormal([nb, h], 0, 1, 'float32', 7);
    const t = table.arraySync() as number[][];
    for (const [lq, lk, bi, q0] of [[5, 7, true, 0], [6, 4, false, 0], [1, 9, false, 8], [1, 1, true, 0], [3, 3, false, 2]] as [number, number, boolean, number][]) {
      const got = relativePositionBias(table, lq, lk, bi, 128, q0).arraySync()[0];
      for (let hh = 0; hh < h; hh++) {
        for (let i = 0; i < lq; i++) {
          for (let j = 0; j < lk; j++) {
            expect(got[hh][i][j]).toBeCloseTo(t[relativePositionBucket(j - (q0 + i), bi, nb, 128)][hh], 6);
          }
        }
      }
    }
    table.dispose();
  });
});

describe('gradients of the gather-free lookups', () => {
  test('embeddingLookup: table gradient is a scatter-add over repeated ids', () => {
    const table = tf.randomNormal([5, 3], 0, 1, 'float32', 1);
    const ids = tf.tensor2d([[1, 1], [4, 1]], undefined, 'int32');
    const w = tf.randomNormal([2, 2, 3], 0, 1, 'float32', 2);
    const before = tf.memory().numTensors;
    embeddingLookup(table as tf.Tensor2D, ids).dispose();
    expect(tf.memory().numTensors).toBe(before);
    const g = tf.grad((t: tf.Tensor) => tf.sum(tf.mul(embeddingLookup(t as tf.Tensor2D, ids), w)))(table).arraySync() as number[][];
    const wa = w.arraySync() as number[][][];
    const want = [0, 1, 2, 3, 4].map((row) => [0, 1, 2].map((c) => [[0, 0], [0, 1], [1, 0], [1, 1]].reduce((a, [b, i]) => a + ([[1, 1], [4, 1]][b][i] === row ? wa[b][i][c] : 0), 0)));
    for (let r = 0; r < 5; r++) for (let c = 0; c < 3; c++) expect(g[r][c]).toBeCloseTo(want[r][c], 5);
    tf.dispose([table, ids, w]);
  });

  test('relativePositionBias: table gradient sums the weights of every position in a bucket', () => {
    const [nb, h, lq, lk] = [32, 2, 4, 6];
    const table = tf.randomNormal([nb, h], 0, 1, 'float32', 4);
    const w = tf.randomNormal([1, h, lq, lk], 0, 1, 'float32', 5);
    const g = tf.grad((t: tf.Tensor) => tf.sum(tf.mul(relativePositionBias(t, lq, lk, true, 128), w)))(table).arraySync() as number[][];
    const wa = (w.arraySync() as number[][][][])[0];
    const want = Array.from({ length: nb }, () => new Array(h).fill(0));
    for (let hh = 0; hh < h; hh++) for (let i = 0; i < lq; i++) for (let j = 0; j < lk; j++) want[relativePositionBucket(j - i, true, nb, 128)][hh] += wa[hh][i][j];
    for (let b = 0; b < nb; b++) for (let hh = 0; hh < h; hh++) expect(g[b][hh]).toBeCloseTo(want[b][hh], 5);
    tf.dispose([table, w]);
  });
});

describe('training paths', () => {
  let model: T5Model;
  beforeAll(async () => {
    model = await loadT5(relu, { trainable: true });
  });
  afterAll(() => model.dispose());

  test('gradient w.r.t. inputs_embeds and the bias table is finite and non-zero', () => {
    const embeds = tf.randomNormal([2, 5, model.config.d_model], 0, 1, 'float32', 3) as tf.Tensor3D;
    const table = model.params.get('encoder.block.0.layer.0.SelfAttention.relative_attention_bias.weight');
    const shared = model.params.get('shared.weight');
    const f = () => tf.sum(tf.square(model.encode({ inputsEmbeds: embeds }))) as tf.Scalar;
    const { value, grads } = tf.variableGrads(f, [table, shared]);
    const gEmb = tf.grad((e: tf.Tensor) => tf.sum(tf.square(model.encode({ inputsEmbeds: e as tf.Tensor3D }))))(embeds);
    const gTable = grads[table.name];
    for (const g of [gEmb, gTable]) {
      const d = g.dataSync();
      expect(d.every(Number.isFinite)).toBe(true);
      expect(d.some((v) => v !== 0)).toBe(true);
    }
    tf.dispose([embeds, gEmb, value, ...Object.values(grads)]);
  });

  test('gradient through the embedding lookup and tied head (teacher-forced loss)', () => {
    const ids = tf.tensor2d([[5, 17, 33, 1]], [1, 4], 'int32');
    const labels = tf.tensor2d([[7, 7, 9, 1]], [1, 4], 'int32');
    const shared = model.params.get('shared.weight');
    const loss = () =>
      tf.tidy(() => {
        const enc = model.encode({ inputIds: ids });
        return model.sequenceLoss(model.decode(model.shiftRight(labels), enc), labels);
      });
    const { value, grads } = tf.variableGrads(loss, [shared]);
    const g = grads[shared.name].arraySync() as number[][];
    expect(Number.isFinite(value.dataSync()[0])).toBe(true);
    expect(g.flat().every(Number.isFinite)).toBe(true);
    // Row 50 is neither an input nor a label: only the head's softmax term reaches it.
    expect(g[50].some((v) => v !== 0)).toBe(true);
    tf.dispose([ids, labels, value, ...Object.values(grads)]);
  });

  test('sequenceLoss matches a manual cross-entropy with -100 ignored', () => {
    const logitsArr = [
      [
        [1, 2, 0.5],
        [0.1, -1, 3],
      ],
      [
        [2, 2, 2],
        [-3, 0, 1],
      ],
    ];
    const labelsArr = [
      [1, -100],
      [0, 2],
    ];
    let sum = 0;
    let n = 0;
    for (let b = 0; b < 2; b++) {
      for (let i = 0; i < 2; i++) {
        const y = labelsArr[b][i];
        if (y === -100) continue;
        const row = logitsArr[b][i];
        sum += Math.log(row.reduce((a, v) => a + Math.exp(v), 0)) - row[y];
        n++;
      }
    }
    const logits = tf.tensor3d(logitsArr);
    const labels = tf.tensor2d(labelsArr, undefined, 'int32');
    const loss = model.sequenceLoss(logits, labels);
    expect(loss.dataSync()[0]).toBeCloseTo(sum / n, 5);
    // Without masking (RAHF's loss counts every position) the ignore index is not special.
    const unmasked = tf.tensor2d([[1, 0], [0, 2]], undefined, 'int32');
    const all = model.sequenceLoss(logits, unmasked, -1);
    const manualAll = [
      [0, 0, 1],
      [0, 1, 0],
      [1, 0, 0],
      [1, 1, 2],
    ].reduce((a, [b, i, y]) => a + Math.log(logitsArr[b][i].reduce((s, v) => s + Math.exp(v), 0)) - logitsArr[b][i][y], 0) / 4;
    expect(all.dataSync()[0]).toBeCloseTo(manualAll, 5);
    tf.dispose([logits, labels, unmasked, loss, all]);
  });

  test('shiftRight prepends decoder_start and maps -100 to pad', () => {
    const labels = tf.tensor2d([[4, 5, -100], [6, -100, -100]], undefined, 'int32');
    const out = model.shiftRight(labels);
    expect(out.arraySync()).toEqual([[0, 4, 5], [0, 6, 0]]);
    expect(out.dtype).toBe('int32');
    tf.dispose([labels, out]);
  });

  test('generate stops at eos and pads finished rows', async () => {
    // The fixture's greedy output has no eos (row 0 repeats 93, row 1 repeats 46), so declare 93 the
    // eos id: row 0 then finishes at once and is padded while row 1 runs to maxNewTokens.
    const params = Params.fromHost(readSafetensors(path.join(relu, 'model.safetensors')));
    const eosModel = new T5Model({ ...model.config, eos_token_id: 93 }, params);
    const ids = tf.tensor2d([[5, 17, 33, 2, 9, 1, 0, 0], [7, 8, 9, 10, 11, 12, 13, 1]], undefined, 'int32');
    const enc = model.encode({ inputIds: ids });
    const mask = tf.tensor2d([[1, 1, 1, 1, 1, 1, 0, 0], [1, 1, 1, 1, 1, 1, 1, 1]], undefined, 'int32');
    const before = tf.memory().numTensors;
    const rows = await eosModel.generate(enc, mask, { maxNewTokens: 4 });
    expect(tf.memory().numTensors).toBe(before); // caches and per-step tensors are released
    expect(rows).toEqual([
      [0, 93, 0, 0, 0],
      [0, 46, 46, 46, 46],
    ]);
    // When every row has finished, decoding stops early (HF returns no trailing all-pad columns).
    const enc0 = tf.slice(enc, [0, 0, 0], [1, -1, -1]) as tf.Tensor3D;
    const mask0 = tf.slice(mask, [0, 0], [1, -1]) as tf.Tensor2D;
    expect(await eosModel.generate(enc0, mask0, { maxNewTokens: 6 })).toEqual([[0, 93]]);
    tf.dispose([ids, enc, mask, enc0, mask0]);
    params.dispose();
  });

  test('untied head uses lm_head.weight and scaling follows scale_decoder_outputs', () => {
    const params = Params.fromHost(readSafetensors(path.join(relu, 'model.safetensors')));
    params.set('lm_head.weight', tf.mul(params.get('shared.weight'), 2));
    const untied = new T5Model({ ...model.config, tie_word_embeddings: false, scale_decoder_outputs: false }, params);
    const ids = tf.tensor2d([[5, 17, 33, 1]], undefined, 'int32');
    const enc = model.encode({ inputIds: ids });
    const tied = model.decode(ids, enc); // relu fixture: tied and scaled by d_model^-0.5
    const other = untied.decode(ids, enc);
    const want = tf.mul(tied, 2 * Math.sqrt(model.config.d_model));
    expect(compare(other.dataSync(), want.dataSync()).maxErr).toBeLessThan(1e-5);
    expect(compare(other.dataSync(), tied.dataSync()).maxErr).toBeGreaterThan(0.1);
    tf.dispose([ids, enc, tied, other, want]);
    params.dispose();
  });

  test('a missing parameter is named in one line', () => {
    const host = readSafetensors(path.join(relu, 'model.safetensors'));
    host.delete('decoder.block.1.layer.2.DenseReluDense.wo.weight');
    const params = Params.fromHost(host);
    expect(() => new T5Model(model.config, params)).toThrow('T5: missing parameter "decoder.block.1.layer.2.DenseReluDense.wo.weight"');
    const full = Params.fromHost(readSafetensors(path.join(relu, 'model.safetensors')));
    expect(() => new T5Model({ ...model.config, tie_word_embeddings: false }, full)).toThrow('T5: missing parameter "lm_head.weight"');
    full.set('shared.weight', tf.zeros([3, model.config.d_model]));
    expect(() => new T5Model(model.config, full)).toThrow('T5: parameter "shared.weight" has shape [3,32], expected [96,32]');
    tf.dispose([params, full].map((p) => p.variables()).flat());
  });
});

test('the T5 part of the RAHF checkpoint loads under its t5. prefix with every tensor used', () => {
  const rahf = path.join(parityDir(), 'rahf');
  const config = t5ConfigFromHF(readJsonConfig(path.join(rahf, 't5')));
  const host = readSafetensors(path.join(rahf, 'rahf_yl_multi', 'model.safetensors'));
  // The file stores tied copies (encoder/decoder.embed_tokens, lm_head) next to t5.shared.weight.
  expect(['t5.lm_head.weight', 't5.encoder.embed_tokens.weight'].every((k) => host.has(k))).toBe(true);
  const params = Params.fromHost(host, { rename: t5Rename(config, host, 't5.') });
  const t5 = new T5Model(config, params.scope('t5.'));
  expect(params.has('t5.lm_head.weight')).toBe(false);
  expect(params.scope('t5.').unused()).toEqual([]);
  expect(params.has('vit.embeddings.cls_token')).toBe(true); // other keys pass unchanged
  const ids = tf.tensor2d([[3, 4, 1]], undefined, 'int32');
  const logits = t5.decode(ids, t5.encode({ inputIds: ids }));
  expect(logits.shape).toEqual([1, 3, config.vocab_size]);
  tf.dispose([ids, logits]);
  params.dispose();
});

test('addLogitBias adds each bias to its column of every row, in place, and refuses ids outside the vocabulary', () => {
  const logits = Float32Array.from([0, 1, 2, 3, 4, 5]); // [2, 3]
  addLogitBias(logits, 3, new Map([[1, 10], [2, -1]]));
  expect([...logits]).toEqual([0, 11, 1, 3, 14, 4]);
  addLogitBias(logits, 3, undefined);
  expect([...logits]).toEqual([0, 11, 1, 3, 14, 4]);
  expect(() => addLogitBias(logits, 3, new Map([[3, 1]]))).toThrow(/token id 3 is outside the vocabulary \(3\)/);
});
