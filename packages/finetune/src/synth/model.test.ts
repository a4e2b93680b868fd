import { encodeModel } from '@richhf/reward/onnx';
import { Rng } from '@richhf/reward/data';
import { ort, SynthModel } from './checkpoint';
import { worldSequences } from './data';
import { defaultConfig, initParams, trainingModel } from './model';
import { makeBatch } from './train';
import { POSITION_RANGES, SEQ_LEN } from './tokens';

const TINY = defaultConfig({ hidden_size: 8, num_layers: 1, num_heads: 2, intermediate_size: 16 });

describe('scene transformer graphs', () => {
  test('the training graph’s gradients match finite differences (attention, MLP, layer norm, tied embedding)', async () => {
    const params = initParams(TINY, 1);
    const rng = new Rng('jitter');
    for (const p of params.values()) for (let i = 0; i < p.data.length; i++) p.data[i] += rng.uniform(-0.1, 0.1);
    const B = 2;
    const session = await ort().InferenceSession.create(encodeModel(trainingModel(TINY, B)), { intraOpNumThreads: 1 });
    const { ids, targets } = makeBatch(worldSequences(0, 8), B, TINY.vocab_size, new Rng('batch'), 0);
    const T = ort().Tensor;
    const run = () =>
      session.run({ ids: new T('int64', ids, [B, SEQ_LEN]), targets: new T('float32', targets, [B, SEQ_LEN, TINY.vocab_size]), ...Object.fromEntries([...params].map(([k, p]) => [k, new T('float32', p.data, p.shape)])) });
    const out = await run();
    for (const [name, picks] of [['layers.0.attn.qkv.weight', [23, 118]], ['layers.0.attn.out.weight', [6, 14]], ['embed.positions', [116, 271]], ['layers.0.mlp.fc1.weight', [106, 118]], ['final_ln.weight', [2, 5]]] as const) {
      const p = params.get(name)!;
      const g = out[`grad_${name}`].data as Float32Array;
      for (const i of picks) {
        const old = p.data[i];
        p.data[i] = old + 1e-2;
        const up = (await run()).loss.data[0] as number;
        p.data[i] = old - 1e-2;
        const down = (await run()).loss.data[0] as number;
        p.data[i] = old;
        expect(g[i]).toBeCloseTo((up - down) / 2e-2, 3);
      }
    }
    await session.release();
  });

  test('inference: each position’s logits stay in its field, and a row’s logits do not depend on what it is batched with', async () => {
    const model = await SynthModel.create(TINY, initParams(TINY, 2), 1);
    const data = worldSequences(0, 5);
    const ids = BigInt64Array.from(data.data, (v) => BigInt(v));
    const all = await model.logits(ids, 5);
    const one = await model.logits(ids.slice(2 * SEQ_LEN, 3 * SEQ_LEN), 1);
    const V = TINY.vocab_size;
    expect(Buffer.from(one.buffer).equals(Buffer.from(all.buffer, 2 * SEQ_LEN * V * 4, SEQ_LEN * V * 4))).toBe(true);
    POSITION_RANGES.forEach((r, p) => {
      for (let v = 0; v < V; v++) {
        const inField = v >= r.offset && v < r.offset + r.size;
        if (!inField) expect(all[p * V + v]).toBeLessThan(-1e8);
      }
    });
    await model.dispose();
  });
});
