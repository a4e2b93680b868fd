import * as tf from '@tensorflow/tfjs';
import { initBackend } from '../backend';
import { Rng } from '../data/synth/rng';
import { clipGlobalNormHost, HostAdamW } from './host-adamw';
import { AdamW, clipGlobalNorm } from './optimizer';

// The host AdamW / clipping (ORT engine) against the tfjs ones of optimizer.ts.

beforeAll(() => initBackend());

const SHAPES: Record<string, number[]> = { 'a.weight': [5, 3], 'a.bias': [3], 'b.filter': [3, 3, 2, 4] };

function randomMap(seed: number, scale: number): Map<string, Float32Array> {
  const rng = new Rng(seed, 'grads');
  return new Map(Object.entries(SHAPES).map(([k, s]) => [k, Float32Array.from({ length: s.reduce((a, b) => a * b, 1) }, () => (rng.next() - 0.5) * scale)]));
}

test('HostAdamW and clipGlobalNormHost follow AdamW and clipGlobalNorm; state round-trips', async () => {
  const init = randomMap(1, 2);
  const vars = new Map([...init].map(([k, d]) => [k, tf.variable(tf.tensor(d, SHAPES[k]))]));
  const host = new Map([...init].map(([k, d]) => [k, { data: d.slice(), shape: SHAPES[k] }]));
  const ref = new AdamW({ weightDecay: 0.1 });
  const opt = new HostAdamW({ weightDecay: 0.1 });
  for (let step = 1; step <= 4; step++) {
    const g = randomMap(10 + step, 3);
    const gt = new Map([...g].map(([k, d]) => [k, tf.tensor(d, SHAPES[k]) as tf.Tensor]));
    const n0 = await clipGlobalNorm(gt, 1);
    const n1 = clipGlobalNormHost(g, 1);
    expect(Math.abs(n1 - n0) / n0).toBeLessThan(1e-6);
    ref.apply(vars, gt, 0.05);
    opt.apply(host, g, 0.05);
    tf.dispose([...gt.values()]);
  }
  for (const [k, v] of vars) {
    const want = v.dataSync();
    const got = host.get(k)!.data;
    for (let i = 0; i < want.length; i++) expect(Math.abs(got[i] - want[i])).toBeLessThan(1e-5);
  }
  // Same checkpoint format both ways.
  const saved = await opt.state();
  expect([...saved.keys()].sort()).toEqual([...(await ref.state()).keys()].sort());
  const again = new HostAdamW({ weightDecay: 0.1 });
  again.load(saved, opt.step, vars);
  expect(again.step).toBe(4);
  expect((await again.state()).get('v.b.filter')!.data).toEqual(saved.get('v.b.filter')!.data);
  expect(() => again.load(new Map([['m.nope', saved.get('m.a.bias')!]]), 1, vars)).toThrow('optimizer state: unexpected tensor "m.nope"');
  ref.dispose();
  tf.dispose([...vars.values()]);
});

test('a per-parameter learning-rate factor scales that parameter\'s step, in both optimizers alike', () => {
  const init = randomMap(3, 2);
  const g = randomMap(4, 3);
  const scale = (n: string) => (n.startsWith('a.') ? 0.1 : 1);
  const run = (s?: (n: string) => number) => {
    const host = new Map([...init].map(([k, d]) => [k, { data: d.slice(), shape: SHAPES[k] }]));
    new HostAdamW({ weightDecay: 0 }).apply(host, g, 0.05, s);
    return host;
  };
  const full = run();
  const scaled = run(scale);
  for (const k of Object.keys(SHAPES)) {
    const d0 = init.get(k)!;
    for (let i = 0; i < d0.length; i++) {
      const stepFull = full.get(k)!.data[i] - d0[i];
      const stepScaled = scaled.get(k)!.data[i] - d0[i];
      expect(Math.abs(stepScaled - stepFull * scale(k))).toBeLessThan(1e-6);
    }
  }
  // The tfjs AdamW takes the same factor.
  const vars = new Map([...init].map(([k, d]) => [k, tf.variable(tf.tensor(d, SHAPES[k]))]));
  const gt = new Map([...g].map(([k, d]) => [k, tf.tensor(d, SHAPES[k]) as tf.Tensor]));
  new AdamW({ weightDecay: 0 }).apply(vars, gt, 0.05, scale);
  for (const [k, v] of vars) {
    const want = scaled.get(k)!.data;
    const got = v.dataSync();
    for (let i = 0; i < want.length; i++) expect(Math.abs(got[i] - want[i])).toBeLessThan(1e-6);
  }
  tf.dispose([...gt.values(), ...vars.values()]);
});
