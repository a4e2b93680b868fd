import * as tf from '@tensorflow/tfjs';
import { initBackend } from '../backend';
import { AdamW, clipGlobalNorm } from './optimizer';

beforeAll(async () => {
  await initBackend();
});

describe('AdamW', () => {
  it('one and two steps equal a hand computation (decay on matrices only)', async () => {
    const w0 = [[0.5, -1], [2, 0.25]];
    const b0 = [0.1, -0.2];
    const vars = new Map<string, tf.Variable>([
      ['w', tf.variable(tf.tensor2d(w0))],
      ['b', tf.variable(tf.tensor1d(b0))],
    ]);
    const gw = [[0.2, -0.4], [1.5, 0]];
    const gb = [-0.3, 0.05];
    const opt = new AdamW({ beta1: 0.9, beta2: 0.99, eps: 1e-6, weightDecay: 0.1 });
    const lr = 0.01;
    const grads = () => new Map<string, tf.Tensor>([['w', tf.tensor2d(gw)], ['b', tf.tensor1d(gb)]]);
    opt.apply(vars, grads(), lr);
    // Step 1: m = 0.1 g, v = 0.01 g², m̂ = g, v̂ = g² → update = g / (|g| + eps).
    const step1 = (p: number, g: number, decay: boolean) => (decay ? p * (1 - lr * 0.1) : p) - lr * (g / (Math.abs(g) + 1e-6));
    const w1 = w0.map((r, i) => r.map((p, j) => step1(p, gw[i][j], true)));
    const b1 = b0.map((p, i) => step1(p, gb[i], false));
    const gotW = (await vars.get('w')!.array()) as number[][];
    const gotB = (await vars.get('b')!.array()) as unknown as number[];
    w1.forEach((r, i) => r.forEach((v, j) => expect(gotW[i][j]).toBeCloseTo(v, 6)));
    b1.forEach((v, i) => expect(gotB[i]).toBeCloseTo(v, 6));
    // Step 2 with the same gradients: m = 0.19 g, v = 0.0199 g², bias corrections 0.19 and 0.0199.
    opt.apply(vars, grads(), lr);
    const step2 = (p: number, g: number, decay: boolean) => {
      const mh = (0.19 * g) / 0.19;
      const vh = (0.0199 * g * g) / 0.0199;
      return (decay ? p * (1 - lr * 0.1) : p) - (lr * mh) / (Math.sqrt(vh) + 1e-6);
    };
    const gotW2 = (await vars.get('w')!.array()) as number[][];
    w1.forEach((r, i) => r.forEach((p, j) => expect(gotW2[i][j]).toBeCloseTo(step2(p, gw[i][j], true), 6)));
    expect(opt.step).toBe(2);
    opt.dispose();
    tf.dispose([...vars.values()]);
  });

  it('state round-trips into a fresh optimizer that continues identically', async () => {
    const mk = () => new Map([['w', tf.variable(tf.tensor2d([[1, 2], [3, 4]]))]]);
    const g = () => new Map<string, tf.Tensor>([['w', tf.tensor2d([[0.1, -0.2], [0.3, 0.05]])]]);
    const a = new AdamW();
    const va = mk();
    a.apply(va, g(), 0.1);
    const state = await a.state();
    expect([...state.keys()].sort()).toEqual(['m.w', 'v.w']);
    const b = new AdamW();
    const vb = new Map([['w', tf.variable(va.get('w')!.clone())]]);
    b.load(state, a.step, vb);
    a.apply(va, g(), 0.1);
    b.apply(vb, g(), 0.1);
    expect(await vb.get('w')!.data()).toEqual(await va.get('w')!.data());
    expect(() => b.load(new Map([['m.x', state.get('m.w')!]]), 1, vb)).toThrow(/unexpected tensor "m.x"/);
    a.dispose();
    b.dispose();
    tf.dispose([...va.values(), ...vb.values()]);
  });

  it('clips the global gradient norm', async () => {
    const grads = new Map<string, tf.Tensor>([['a', tf.tensor1d([3, 0])], ['b', tf.tensor1d([0, 4])]]);
    expect(await clipGlobalNorm(grads, 1)).toBeCloseTo(5, 5);
    expect(Array.from(await grads.get('a')!.data())[0]).toBeCloseTo(0.6, 5);
    expect(Array.from(await grads.get('b')!.data())[1]).toBeCloseTo(0.8, 5);
    expect(await clipGlobalNorm(grads, 0)).toBeCloseTo(1, 5);
    tf.dispose([...grads.values()]);
  });
});
