import * as path from 'path';
import * as tf from '@tensorflow/tfjs';
import { initBackend } from '../backend';
import { readSafetensors } from '../io/safetensors';
import { TensorMap } from '../io/tensors';
import { Params } from '../nn/params';
import { caseDirs } from '../parity/fixtures';
import { CLIPConfig, CLIPModel, clipConfigFromHF, loadCLIP } from './clip';
import { readJsonConfig } from './hf-config';
import { seeded } from '../testing/seeded';
import { expectDirectionalGrad } from '../testing/grad-check';

const clipDir = caseDirs('models').find((d) => readJsonConfig(d).model_type === 'clip')!;
let host: TensorMap;
let config: CLIPConfig;
let model: CLIPModel;

beforeAll(async () => {
  await initBackend();
  host = readSafetensors(path.join(clipDir, 'model.safetensors'));
  config = clipConfigFromHF(readJsonConfig(clipDir));
  model = await loadCLIP(clipDir);
});
afterAll(() => model.params.dispose());

function maxAbsDiff(a: tf.Tensor, b: tf.Tensor): number {
  return tf.tidy(() => tf.max(tf.abs(tf.sub(a, b))).dataSync()[0]);
}

const ids = (rows: number[][]): tf.Tensor2D => tf.tensor2d(rows, undefined, 'int32');

describe('CLIPModel vision', () => {
  test('gradient of logits w.r.t. pixels exists, is finite and matches a finite difference', () => {
    const shape: [number, number, number, number] = [2, 32, 32, 3];
    const px = tf.tensor4d(seeded(2 * 32 * 32 * 3, 1), shape);
    const dir = tf.tensor4d(seeded(2 * 32 * 32 * 3, 2), shape);
    const t = ids([[49, 5, 6, 98], [49, 7, 98, 0]]);
    const mask = ids([[1, 1, 1, 1], [1, 1, 1, 0]]);
    const w = tf.tensor2d([[1, -2], [0.5, 3]]);
    const loss = (x: tf.Tensor4D): tf.Scalar => tf.sum(tf.mul(model.logitsPerImage(x, t, mask), w));
    const g = expectDirectionalGrad(loss, px, dir);
    tf.dispose([px, dir, t, mask, w, g]);
  });

  test('another input size interpolates the position grid and still gives unit embeddings', () => {
    const px = tf.tensor4d(seeded(48 * 48 * 3, 3), [1, 48, 48, 3]); // 6x6 patches, trained 4x4
    const h = model.visionHidden(px);
    expect(h.shape).toEqual([1, 37, 32]);
    const e = model.imageEmbeds(px);
    expect(e.shape).toEqual([1, 16]);
    expect(tf.norm(e).dataSync()[0]).toBeCloseTo(1, 5);
    tf.dispose([px, h, e]);
  });

  test('hidden_act is read per tower', () => {
    const gelu = { ...config, vision_config: { ...config.vision_config, hidden_act: 'gelu' } };
    const m = new CLIPModel(gelu, model.params);
    const px = tf.tensor4d(seeded(32 * 32 * 3, 4), [1, 32, 32, 3]);
    const t = ids([[49, 5, 98]]);
    expect(maxAbsDiff(m.imageEmbeds(px), model.imageEmbeds(px))).toBeGreaterThan(1e-4);
    expect(maxAbsDiff(m.textEmbeds(t), model.textEmbeds(t))).toBe(0);
    tf.dispose([px, t]);
  });
});

describe('CLIPModel text', () => {
  test('pools at the first eos (98 here), at position 0 when none, and at argmax(ids) for legacy eos 2', () => {
    const x = ids([[49, 98, 5, 98], [3, 5, 6, 7], [49, 97, 98, 0]]);
    expect(model.eosOneHot(x).arraySync()).toEqual([[0, 1, 0, 0], [1, 0, 0, 0], [0, 0, 1, 0]]);
    const legacy = new CLIPModel({ ...config, text_config: { ...config.text_config, eos_token_id: 2 } }, model.params);
    expect(legacy.eosOneHot(x).arraySync()).toEqual([[0, 1, 0, 0], [0, 0, 0, 1], [0, 0, 1, 0]]);
    x.dispose();
  });

  test('causal mask: tokens after the pooled eos do not matter', () => {
    const a = model.textEmbeds(ids([[49, 5, 6, 98, 0, 0]]));
    const b = model.textEmbeds(ids([[49, 5, 6, 98, 40, 41]]));
    expect(maxAbsDiff(a, b)).toBeLessThan(1e-6);
  });

  test('attention_mask: a masked token before eos does not reach the pooled output, an unmasked one does', () => {
    const mask = ids([[1, 0, 1, 1]]);
    const a = model.textEmbeds(ids([[49, 5, 6, 98]]), mask);
    const b = model.textEmbeds(ids([[49, 30, 6, 98]]), mask);
    expect(maxAbsDiff(a, b)).toBeLessThan(1e-6);
    const c = model.textEmbeds(ids([[49, 30, 6, 98]]));
    expect(maxAbsDiff(b, c)).toBeGreaterThan(1e-4);
  });

  test('too long input and mismatched mask give clear errors', () => {
    expect(() => model.textEmbeds(tf.zeros([1, 17], 'int32') as tf.Tensor2D)).toThrow('exceeds max_position_embeddings 16');
    expect(() => model.textEmbeds(ids([[1, 2]]), ids([[1, 1, 1]]))).toThrow('attention_mask shape [1,3] does not match input_ids [1,2]');
  });
});

describe('CLIP loading', () => {
  test('missing weights give an error naming the parameter', () => {
    const missing = new Map(host);
    missing.delete('text_model.encoder.layers.1.mlp.fc2.bias');
    const p = Params.fromHost(missing);
    expect(() => new CLIPModel(config, p)).toThrow('missing parameter "text_model.encoder.layers.1.mlp.fc2.bias"');
    p.dispose();
  });

  test('towers release every intermediate tensor', () => {
    const px = tf.zeros([1, 48, 48, 3]) as tf.Tensor4D;
    const t = ids([[49, 5, 98]]);
    const mask = ids([[1, 1, 1]]);
    const before = tf.memory().numTensors;
    const out = model.logitsPerImage(px, t, mask);
    expect(tf.memory().numTensors).toBe(before + 1);
    tf.dispose([px, t, mask, out]);
  });

  test('every checkpoint tensor is used', () => {
    expect(model.params.unused()).toEqual([]);
  });

  test('config defaults follow HF (ViT-B/32 vision, 77-token text)', () => {
    const c = clipConfigFromHF({ model_type: 'clip' });
    expect(c.projection_dim).toBe(512);
    expect(c.vision_config).toMatchObject({ hidden_size: 768, patch_size: 32, image_size: 224, hidden_act: 'quick_gelu' });
    expect(c.text_config).toMatchObject({ hidden_size: 512, max_position_embeddings: 77, eos_token_id: 49407, vocab_size: 49408 });
    expect(clipConfigFromHF({ text_config_dict: { eos_token_id: 2 } }).text_config.eos_token_id).toBe(2);
    expect(() => clipConfigFromHF({ vision_config: { image_size: 30, patch_size: 8 } })).toThrow('not a multiple of patch_size');
  });
});
