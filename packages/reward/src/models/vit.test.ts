import * as fs from 'fs';
import * as os from 'os';
import * as path from 'path';
import * as tf from '@tensorflow/tfjs';
import { initBackend } from '../backend';
import { readSafetensors } from '../io/safetensors';
import { TensorMap } from '../io/tensors';
import { Params } from '../nn/params';
import { caseDirs, parityDir } from '../parity/fixtures';
import { readJsonConfig } from './hf-config';
import { seeded } from '../testing/seeded';
import { expectDirectionalGrad } from '../testing/grad-check';
import {
  ViTModel,
  bicubicMatrix,
  interpolatePosGrid,
  loadViT,
  patchEmbed,
  positionEmbeddingsFor,
  vitConfigFromHF,
} from './vit';

const vitDir = caseDirs('models').find((d) => readJsonConfig(d).model_type === 'vit')!;
let host: TensorMap;
let model: ViTModel;

beforeAll(async () => {
  await initBackend();
  host = readSafetensors(path.join(vitDir, 'model.safetensors'));
  model = new ViTModel(vitConfigFromHF(readJsonConfig(vitDir)), Params.fromHost(host));
});
afterAll(() => model.params.dispose());

function expectArrayClose(actual: ArrayLike<number>, expected: ArrayLike<number>, tol: number): void {
  expect(actual.length).toBe(expected.length);
  let worst = 0;
  for (let i = 0; i < expected.length; i++) worst = Math.max(worst, Math.abs(actual[i] - expected[i]));
  expect(worst).toBeLessThanOrEqual(tol);
}

/** Minimal safetensors writer (F32 only) to build broken / re-prefixed checkpoints for loader tests. */
function writeSafetensors(file: string, map: TensorMap): void {
  const header: Record<string, unknown> = {};
  const parts: Buffer[] = [];
  let off = 0;
  for (const [k, t] of map) {
    const b = Buffer.from(t.data.buffer, t.data.byteOffset, t.data.byteLength);
    header[k] = { dtype: 'F32', shape: t.shape, data_offsets: [off, off + b.length] };
    parts.push(b);
    off += b.length;
  }
  let json = JSON.stringify(header);
  json += ' '.repeat((8 - (json.length % 8)) % 8);
  const len = Buffer.alloc(8);
  len.writeBigUInt64LE(BigInt(json.length));
  fs.writeFileSync(file, Buffer.concat([len, Buffer.from(json), ...parts]));
}

function tmpCase(map: TensorMap): string {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'vit-test-'));
  fs.copyFileSync(path.join(vitDir, 'config.json'), path.join(dir, 'config.json'));
  writeSafetensors(path.join(dir, 'model.safetensors'), map);
  return dir;
}

describe('bicubic position interpolation', () => {
  test('same size is the identity', () => {
    for (const n of [1, 3, 7]) {
      const m = bicubicMatrix(n, n);
      const eye = new Float32Array(n * n);
      for (let i = 0; i < n; i++) eye[i * n + i] = 1;
      expect(Array.from(m)).toEqual(Array.from(eye));
    }
    const pos = tf.tensor2d(seeded(9 * 5, 1), [9, 5]);
    expect(interpolatePosGrid(pos, [3, 3], [3, 3])).toBe(pos);
    pos.dispose();
  });

  test('2→4 upsample matches the hand-computed PyTorch kernel (a = -0.75, align_corners=False)', () => {
    // dst 0: src = 0.5·0.5 − 0.5 = −0.25 → taps at −2,−1,0,1 (clamped to 0,0,0,1), t = 0.75:
    //   W(1.75) = −0.03515625, W(0.75) = 0.26171875, W(0.25) = 0.87890625, W(1.25) = −0.10546875
    //   → [−0.03515625 + 0.26171875 + 0.87890625, −0.10546875] = [1.10546875, −0.10546875]
    // dst 1: src = 0.25, t = 0.25, taps −1,0,1,2 → [−0.10546875 + 0.87890625, 0.26171875 − 0.03515625]
    const expected = [1.10546875, -0.10546875, 0.7734375, 0.2265625, 0.2265625, 0.7734375, -0.10546875, 1.10546875];
    expectArrayClose(bicubicMatrix(2, 4), expected, 1e-7);
  });

  test('4→2 downsample matches the hand-computed kernel (no antialias, as PyTorch)', () => {
    // dst 0: src = 0.5, t = 0.5: W(1.5) = −0.09375, W(0.5) = 0.59375; taps −1,0,1,2 (−1 clamped to 0)
    expectArrayClose(bicubicMatrix(4, 2), [0.5, 0.59375, -0.09375, 0, 0, -0.09375, 0.59375, 0.5], 1e-7);
  });

  test('2x2 grid → 4x4 applies the kernel separably per channel', () => {
    // channel 0: P[a][b] = 2a + b (linear, rows sum to 1) → out[i][j] = 2·u[i] + u[j], u = M·[0, 1]
    // channel 1: P = e00 → out[i][j] = w[i]·w[j], w = M[:, 0]
    const u = [-0.10546875, 0.2265625, 0.7734375, 1.10546875];
    const w = [1.10546875, 0.7734375, 0.2265625, -0.10546875];
    const pos = tf.tensor2d([0, 1, 1, 0, 2, 0, 3, 0], [4, 2]);
    const out = interpolatePosGrid(pos, [2, 2], [4, 4]).arraySync();
    for (let i = 0; i < 4; i++)
      for (let j = 0; j < 4; j++) {
        expect(out[i * 4 + j][0]).toBeCloseTo(2 * u[i] + u[j], 6);
        expect(out[i * 4 + j][1]).toBeCloseTo(w[i] * w[j], 6);
      }
    pos.dispose();
  });

  test('non-square target grid keeps the CLS row and resizes rows and columns independently', () => {
    const pos = tf.tensor2d(seeded(5 * 3, 2), [5, 3]); // CLS + 2x2
    const out = positionEmbeddingsFor(pos, [3, 1]);
    expect(out.shape).toEqual([4, 3]);
    const p = pos.arraySync();
    const o = out.arraySync();
    expect(o[0]).toEqual(p[0]);
    const my = bicubicMatrix(2, 3);
    const mx = bicubicMatrix(2, 1);
    for (let i = 0; i < 3; i++)
      for (let c = 0; c < 3; c++) {
        let ref = 0;
        for (let a = 0; a < 2; a++) for (let b = 0; b < 2; b++) ref += my[i * 2 + a] * mx[b] * p[1 + a * 2 + b][c];
        expect(o[1 + i][c]).toBeCloseTo(ref, 6);
      }
    tf.dispose([pos, out]);
  });
});

describe('patchEmbed', () => {
  test('equals a direct stride-P convolution', () => {
    const [b, h, w, c, d, p] = [2, 8, 12, 3, 5, 4];
    const px = tf.tensor4d(seeded(b * h * w * c, 3), [b, h, w, c]);
    const wt = tf.tensor4d(seeded(d * c * p * p, 4), [d, c, p, p]);
    const bias = tf.tensor1d(seeded(d, 5));
    const { tokens, grid } = patchEmbed(px, wt, bias);
    expect(grid).toEqual([2, 3]);
    const ref = tf.conv2d(px, wt.transpose([2, 3, 1, 0]) as tf.Tensor4D, p, 'valid').add(bias).reshape([b, 6, d]);
    expectArrayClose(tokens.dataSync(), ref.dataSync(), 1e-5);
    tf.dispose([px, wt, bias, tokens, ref]);
  });

  test('drops trailing pixels that do not fill a patch, like the conv', () => {
    const px = tf.tensor4d(seeded(1 * 9 * 10 * 1, 6), [1, 9, 10, 1]);
    const wt = tf.tensor4d(seeded(2 * 1 * 4 * 4, 7), [2, 1, 4, 4]);
    const { tokens, grid } = patchEmbed(px, wt);
    expect(grid).toEqual([2, 2]);
    const ref = tf.conv2d(px, wt.transpose([2, 3, 1, 0]) as tf.Tensor4D, 4, 'valid').reshape([1, 4, 2]);
    expectArrayClose(tokens.dataSync(), ref.dataSync(), 1e-5);
    tf.dispose([px, wt, tokens, ref]);
  });
});

describe('ViTModel', () => {
  test('a different input size interpolates positions bicubically (checked against a direct 16-tap reference)', () => {
    const size = 96; // 6x6 patches against the trained 4x4
    const px = tf.zeros([1, size, size, 3]) as tf.Tensor4D;
    const emb = model.embeddings(px);
    expect(emb.shape).toEqual([1, 37, 32]);
    // With zero pixels each patch token is the projection bias, so positions = emb − bias (− cls for row 0).
    const bias = host.get('embeddings.patch_embeddings.projection.bias')!.data as Float32Array;
    const pos0 = host.get('embeddings.position_embeddings')!.data as Float32Array; // [1, 17, 32]
    const e = emb.arraySync()[0];
    const kernel = (x: number): number => {
      const ax = Math.abs(x);
      const a = -0.75;
      return ax <= 1 ? (a + 2) * ax ** 3 - (a + 3) * ax ** 2 + 1 : ax < 2 ? a * ax ** 3 - 5 * a * ax ** 2 + 8 * a * ax - 4 * a : 0;
    };
    const clamp = (v: number): number => Math.min(Math.max(v, 0), 3);
    let worst = 0;
    for (let i = 0; i < 6; i++)
      for (let j = 0; j < 6; j++) {
        const sy = (i + 0.5) * (4 / 6) - 0.5;
        const sx = (j + 0.5) * (4 / 6) - 0.5;
        for (let c = 0; c < 32; c++) {
          let ref = 0;
          for (let ky = Math.floor(sy) - 1; ky <= Math.floor(sy) + 2; ky++)
            for (let kx = Math.floor(sx) - 1; kx <= Math.floor(sx) + 2; kx++)
              ref += kernel(sy - ky) * kernel(sx - kx) * pos0[(1 + clamp(ky) * 4 + clamp(kx)) * 32 + c];
          worst = Math.max(worst, Math.abs(e[1 + i * 6 + j][c] - bias[c] - ref));
        }
      }
    expect(worst).toBeLessThan(1e-5);
    const out = model.forward(px);
    expect(out.shape).toEqual([1, 37, 32]);
    expect(out.isFinite().all().dataSync()[0]).toBe(1);
    tf.dispose([px, emb, out]);
  });

  test('gradient w.r.t. pixels exists, is finite and matches a finite difference', () => {
    const shape: [number, number, number, number] = [1, 64, 64, 3];
    const px = tf.tensor4d(seeded(64 * 64 * 3, 8), shape);
    const dir = tf.tensor4d(seeded(64 * 64 * 3, 9), shape);
    const r = tf.tensor3d(seeded(17 * 32, 10), [1, 17, 32]);
    const loss = (x: tf.Tensor4D): tf.Scalar => tf.sum(tf.mul(model.forward(x), r));
    const g = expectDirectionalGrad(loss, px, dir);
    tf.dispose([px, dir, r, g]);
  });

  test('forward and embeddings release every intermediate tensor', () => {
    const px = tf.zeros([1, 64, 64, 3]) as tf.Tensor4D;
    const before = tf.memory().numTensors;
    const out = model.forward(px);
    const emb = model.embeddings(tf.zeros([1, 96, 96, 3]) as tf.Tensor4D);
    expect(tf.memory().numTensors).toBe(before + 3); // the two outputs and the 96x96 input
    tf.dispose([px, out, emb]);
  });

  test('missing or misshapen weights give an error naming the parameter', () => {
    const cfg = vitConfigFromHF(readJsonConfig(vitDir));
    const missing = new Map(host);
    missing.delete('encoder.layer.1.attention.attention.key.bias');
    const p1 = Params.fromHost(missing);
    expect(() => new ViTModel(cfg, p1)).toThrow('missing parameter "encoder.layer.1.attention.attention.key.bias"');
    p1.dispose();
    const wrong = new Map(host);
    wrong.set('layernorm.weight', { dtype: 'float32', shape: [31], data: new Float32Array(31) });
    const p2 = Params.fromHost(wrong);
    expect(() => new ViTModel(cfg, p2)).toThrow('parameter "layernorm.weight" has shape [31], expected [32]');
    p2.dispose();
  });

  test('loadViT names the file and parameter for a missing weight', async () => {
    const missing = new Map(host);
    missing.delete('embeddings.cls_token');
    const dir = tmpCase(missing);
    await expect(loadViT(dir)).rejects.toThrow(`${path.join(dir, 'model.safetensors')}: missing parameter "embeddings.cls_token"`);
    fs.rmSync(dir, { recursive: true });
  });

  test("loadViT finds weights under 'vit.' and ignores the pooler, with identical outputs", async () => {
    const prefixed: TensorMap = new Map();
    for (const [k, t] of host) prefixed.set(`vit.${k}`, t);
    prefixed.set('vit.pooler.dense.weight', { dtype: 'float32', shape: [32, 32], data: seeded(1024, 11) });
    prefixed.set('vit.pooler.dense.bias', { dtype: 'float32', shape: [32], data: seeded(32, 12) });
    const dir = tmpCase(prefixed);
    const m = await loadViT(dir);
    const px = tf.tensor4d(seeded(2 * 64 * 64 * 3, 13), [2, 64, 64, 3]);
    const a = model.forward(px);
    const b = m.forward(px);
    expect(Array.from(b.dataSync())).toEqual(Array.from(a.dataSync()));
    expect(m.params.unused().sort()).toEqual(['vit.pooler.dense.bias', 'vit.pooler.dense.weight']);
    tf.dispose([px, a, b]);
    m.params.dispose();
    fs.rmSync(dir, { recursive: true });
  });

  test('runs the RAHF checkpoint layout (vit.* next to T5 weights) through Params.scope', () => {
    const rahf = path.join(parityDir(), 'rahf');
    const ckpt = path.join(rahf, 'rahf_yl_multi', 'model.safetensors');
    if (!fs.existsSync(ckpt)) return; // the RAHF fixtures are optional in RAHF_PARITY_DIR overrides
    const params = Params.fromHost(readSafetensors(ckpt));
    const m = new ViTModel(vitConfigFromHF(readJsonConfig(path.join(rahf, 'vit'))), params.scope('vit.'));
    const px = tf.zeros([1, 64, 64, 3]) as tf.Tensor4D;
    const out = m.forward(px);
    expect(out.shape).toEqual([1, 17, 64]);
    expect(out.isFinite().all().dataSync()[0]).toBe(1);
    expect(m.params.unused().filter((k) => !k.includes('pooler'))).toEqual([]);
    tf.dispose([px, out]);
    params.dispose();
  });
});

describe('vitConfigFromHF', () => {
  test('uses HF defaults for absent fields', () => {
    expect(vitConfigFromHF({ model_type: 'vit' })).toEqual({
      hidden_size: 768,
      num_hidden_layers: 12,
      num_attention_heads: 12,
      intermediate_size: 3072,
      hidden_act: 'gelu',
      layer_norm_eps: 1e-12,
      image_size: 224,
      patch_size: 16,
      num_channels: 3,
      qkv_bias: true,
    });
  });

  test('rejects wrong types and models', () => {
    expect(() => vitConfigFromHF({ hidden_size: '768' })).toThrow('config.hidden_size: expected a number');
    expect(() => vitConfigFromHF({ model_type: 't5' })).toThrow('model_type "t5" is not "vit"');
    expect(() => vitConfigFromHF({ hidden_act: 'swish2' })).toThrow('unsupported activation "swish2"');
    expect(vitConfigFromHF({ image_size: [384, 384] }).image_size).toBe(384);
  });
});
