import * as ort from 'onnxruntime-node';
import { GraphBuilder } from './graph';
import { gradientGraph, gradientModel } from './autodiff';
import { inferShapes } from './shape-infer';
import { OnnxGraph, encodeModel } from './proto';

/*
 * Each op's gradient rule against central finite differences of the forward graph in onnxruntime: for a
 * random loss Σ r·y (r fed through seed inputs) and random directions v, ⟨∇L, v⟩ from the gradient graph
 * must match (L(x + εv) − L(x − εv)) / 2ε. A wrong rule is off by O(1); float32 rounding of the finite
 * differences stays well under the 1e-2 relative tolerance.
 */

function rng(seed: number): () => number {
  let s = seed >>> 0;
  return () => {
    s = (s + 0x6d2b79f5) >>> 0;
    let t = s;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

const rand = (r: () => number, n: number, lo = -1, hi = 1) => Float32Array.from({ length: n }, () => lo + (hi - lo) * r());
const size = (s: number[]) => s.reduce((a, b) => a * b, 1);

type Feed = Record<string, { data: Float32Array | BigInt64Array; dims: number[] }>;

function tensors(feed: Feed): Record<string, ort.Tensor> {
  return Object.fromEntries(Object.entries(feed).map(([k, v]) => [k, new ort.Tensor(v.data instanceof BigInt64Array ? 'int64' : 'float32', v.data, v.dims)]));
}

async function forwardLoss(graph: OnnxGraph, feed: Feed, r: Record<string, Float32Array>): Promise<number> {
  const s = await ort.InferenceSession.create(encodeModel({ graph, opset: 17 }));
  try {
    const out = await s.run(tensors(feed));
    let l = 0;
    for (const [k, w] of Object.entries(r)) {
      const y = out[k].data as Float32Array;
      for (let i = 0; i < y.length; i++) l += w[i] * y[i];
    }
    return l;
  } finally {
    await s.release();
  }
}

/** Check d(Σ r·outputs)/d(wrt) of the graph built in `g` against finite differences. */
async function gradCheck(g: GraphBuilder, wrt: string[], feed: Feed, opts: { eps?: number; tol?: number; seed?: number } = {}): Promise<void> {
  const graph = g.build();
  const r = rng(opts.seed ?? 7);
  const eps = opts.eps ?? 1e-2;
  const tol = opts.tol ?? 1e-2;
  const inputShapes = Object.fromEntries(Object.entries(feed).map(([k, v]) => [k, v.dims]));
  // Output shapes from one forward run.
  const s0 = await ort.InferenceSession.create(encodeModel({ graph, opset: 17 }));
  const out0 = await s0.run(tensors(feed));
  await s0.release();
  const weights: Record<string, Float32Array> = {};
  for (const o of graph.outputs) weights[o.name] = rand(r, (out0[o.name].data as Float32Array).length);
  const model = gradientModel(graph, { inputShapes, seeds: graph.outputs.map((o) => ({ value: o.name, input: `seed_${o.name}` })), wrt });
  const gs = await ort.InferenceSession.create(encodeModel(model));
  const seedFeed: Feed = Object.fromEntries(graph.outputs.map((o) => [`seed_${o.name}`, { data: weights[o.name], dims: [...out0[o.name].dims] }]));
  const gout = await gs.run(tensors({ ...feed, ...seedFeed }));
  await gs.release();
  const inits = new Map(graph.initializers.map((t) => [t.name, t]));
  for (const w of wrt) {
    const grad = gout[`grad_${w}`].data as Float32Array;
    const base = (feed[w]?.data ?? inits.get(w)!.data) as Float32Array;
    expect(grad.length).toBe(base.length);
    for (let trial = 0; trial < 2; trial++) {
      const v = rand(r, base.length);
      const at = async (sign: number): Promise<number> => {
        const x = base.map((b, i) => b + sign * eps * v[i]);
        if (feed[w]) return forwardLoss(graph, { ...feed, [w]: { data: x, dims: feed[w].dims } }, weights);
        const gr = { ...graph, initializers: graph.initializers.map((t) => (t.name === w ? { ...t, data: x } : t)) };
        return forwardLoss(gr, feed, weights);
      };
      const fd = ((await at(1)) - (await at(-1))) / (2 * eps);
      let ad = 0;
      let scale = 0;
      for (let i = 0; i < v.length; i++) {
        ad += grad[i] * v[i];
        scale += Math.abs(grad[i] * v[i]);
      }
      if (Math.abs(ad - fd) > tol * (scale + 1e-3)) throw new Error(`grad of ${w}: autodiff ${ad} vs finite differences ${fd} (scale ${scale})`);
    }
  }
}

const f = (r: () => number, dims: number[], lo = -1, hi = 1) => ({ data: rand(r, size(dims), lo, hi), dims });

describe('gradient rules against finite differences', () => {
  test('broadcasting Add / Sub / Mul / Div, Neg, Identity, Cast', async () => {
    const r = rng(1);
    const g = new GraphBuilder('t');
    const a = g.input('a', 'float32', [2, 3, 4]);
    const b = g.input('b', 'float32', [4]);
    const c = g.input('c', 'float32', [3, 1]);
    const num = g.sub(g.mul(g.add(a, b), c), g.op('Neg', [a]));
    const den = g.add(g.mul(c, c), g.f32(1.5));
    g.output(g.op('Identity', [g.cast(g.div(num, den), 'float32')]), 'y', 'float32', [2, 3, 4]);
    g.output(g.div(b, g.add(g.mul(b, b), g.f32(2))), 'z', 'float32', [4]);
    await gradCheck(g, ['a', 'b', 'c'], { a: f(r, [2, 3, 4]), b: f(r, [4]), c: f(r, [3, 1]) });
  });

  test('Pow (2, 3, 0.5), Sqrt, Exp, Erf, Tanh, Sigmoid, Relu, Log, Reciprocal, Abs, the RMS norm and GELU patterns', async () => {
    const r = rng(2);
    const g = new GraphBuilder('t');
    const x = g.input('x', 'float32', [3, 5]);
    const p = g.input('p', 'float32', [3, 5]);
    const outs = [
      g.op('Pow', [x, g.f32(2)]),
      g.op('Pow', [x, g.f32(3)]),
      g.op('Pow', [p, g.f32(0.5)]),
      g.op('Sqrt', [p]),
      g.op('Exp', [x]),
      g.op('Erf', [x]),
      g.op('Tanh', [x]),
      g.sigmoid(x),
      g.relu(x),
      g.op('Log', [p]),
      g.op('Reciprocal', [p]),
      g.op('Abs', [x]),
    ];
    outs.forEach((o, i) => g.output(o, `y${i}`, 'float32', [3, 5]));
    const ms = g.op('ReduceMean', [g.op('Pow', [x, g.f32(2)])], { axes: [-1], keepdims: 1 });
    g.output(g.div(x, g.op('Sqrt', [g.add(ms, g.f32(1e-6))])), 'rms', 'float32', [3, 5]);
    g.output(g.mul(g.mul(x, g.add(g.op('Erf', [g.div(x, g.f32(Math.SQRT2))]), g.f32(1))), g.f32(0.5)), 'gelu', 'float32', [3, 5]);
    await gradCheck(g, ['x', 'p'], { x: f(r, [3, 5]), p: f(r, [3, 5], 0.5, 2) }, { eps: 3e-3 });
  });

  test('Softmax, LogSoftmax, ReduceMean (also over all axes), ReduceSum (axes input, keepdims 0), LayerNormalization with scale and bias', async () => {
    const r = rng(3);
    const g = new GraphBuilder('t');
    const x = g.input('x', 'float32', [2, 3, 6]);
    g.output(g.op('Softmax', [x], { axis: -1 }), 's1', 'float32', [2, 3, 6]);
    g.output(g.op('Softmax', [x], { axis: 1 }), 's2', 'float32', [2, 3, 6]);
    g.output(g.op('LogSoftmax', [x], { axis: -1 }), 'ls', 'float32', [2, 3, 6]);
    g.output(g.op('ReduceMean', [x], { keepdims: 0 }), 'all', 'float32', []);
    g.output(g.op('ReduceMean', [x], { axes: [0, 2], keepdims: 1 }), 'm', 'float32', [1, 3, 1]);
    g.output(g.op('ReduceSum', [x, g.i64([1])], { keepdims: 0 }), 'rs', 'float32', [2, 6]);
    const scale = g.init('ln.w', rand(r, 6, 0.5, 1.5), [6]);
    const bias = g.init('ln.b', rand(r, 6), [6]);
    g.output(g.op('LayerNormalization', [x, scale, bias], { axis: -1, epsilon: { float: 1e-5 } }), 'ln', 'float32', [2, 3, 6]);
    await gradCheck(g, ['x', 'ln.w', 'ln.b'], { x: f(r, [2, 3, 6]) }, { eps: 3e-3 });
  });

  test('MatMul (weights on the right, batched, broadcast batch) and Gemm with transposes and bias', async () => {
    const r = rng(4);
    const g = new GraphBuilder('t');
    const a = g.input('a', 'float32', [2, 3, 4]);
    const w = g.input('w', 'float32', [4, 5]);
    const q = g.input('q', 'float32', [2, 2, 3, 4]);
    const k = g.input('k', 'float32', [2, 2, 4, 3]);
    const kb = g.input('kb', 'float32', [1, 4, 2]);
    g.output(g.matMul(a, w), 'y1', 'float32', [2, 3, 5]);
    g.output(g.matMul(q, k), 'y2', 'float32', [2, 2, 3, 3]);
    g.output(g.matMul(a, kb), 'y3', 'float32', [2, 3, 2]);
    const m = g.input('m', 'float32', [3, 4]);
    const n = g.input('n', 'float32', [5, 4]);
    const c = g.input('c', 'float32', [5]);
    g.output(g.op('Gemm', [m, n, c], { transB: 1, alpha: { float: 0.7 }, beta: { float: 1.3 } }), 'y4', 'float32', [3, 5]);
    g.output(g.op('Gemm', [g.transpose(m, [1, 0]), g.transpose(n, [1, 0])], { transA: 1 }), 'y5', 'float32', [3, 5]);
    await gradCheck(g, ['a', 'w', 'q', 'k', 'kb', 'm', 'n', 'c'], {
      a: f(r, [2, 3, 4]),
      w: f(r, [4, 5]),
      q: f(r, [2, 2, 3, 4]),
      k: f(r, [2, 2, 4, 3]),
      kb: f(r, [1, 4, 2]),
      m: f(r, [3, 4]),
      n: f(r, [5, 4]),
      c: f(r, [5]),
    });
  });

  test('Reshape (0 and −1), Transpose, Concat, Split (one output unused), Slice, Unsqueeze, Squeeze, Flatten, Expand, Pad', async () => {
    const r = rng(5);
    const g = new GraphBuilder('t');
    const x = g.input('x', 'float32', [2, 3, 4]);
    const y = g.input('y', 'float32', [2, 1, 4]);
    g.output(g.reshape(g.transpose(x, [0, 2, 1]), [0, -1]), 'r', 'float32', [2, 12]);
    g.output(g.concat([x, y, x], 1), 'c', 'float32', [2, 7, 4]);
    const [s0, , s2] = g.split(x, [1, 1, 2], 2);
    g.output(g.mul(s0, g.f32(3)), 's0', 'float32', [2, 3, 1]);
    g.output(s2, 's2', 'float32', [2, 3, 2]);
    g.output(g.slice(x, 1, 1, 2 ** 62), 'sl', 'float32', [2, 2, 4]);
    g.output(g.op('Slice', [x, g.i64([0, -3]), g.i64([1, -1]), g.i64([0, 2])]), 'sl2', 'float32', [1, 3, 2]);
    g.output(g.op('Squeeze', [g.unsqueeze(x, [1]), g.i64([1])]), 'sq', 'float32', [2, 3, 4]);
    g.output(g.op('Flatten', [x], { axis: 1 }), 'fl', 'float32', [2, 12]);
    g.output(g.op('Expand', [y, g.i64([3, 2, 5, 4])]), 'ex', 'float32', [3, 2, 5, 4]);
    g.output(g.op('Pad', [x, g.i64([0, 1, 2, 1, 0, 1]), g.f32(0.5)]), 'pad', 'float32', [3, 4, 7]);
    await gradCheck(g, ['x', 'y'], { x: f(r, [2, 3, 4]), y: f(r, [2, 1, 4]) });
  });

  test('Where, Max, Min, Gather of a table (repeated indices, wrt the table) and Shape-derived constants', async () => {
    const r = rng(6);
    const g = new GraphBuilder('t');
    const a = g.input('a', 'float32', [3, 4]);
    const b = g.input('b', 'float32', [4]);
    const ids = g.input('ids', 'int64', [2, 3]);
    g.output(g.op('Where', [g.op('Greater', [a, g.f32(0)]), a, b]), 'w', 'float32', [3, 4]);
    g.output(g.op('Max', [a, b]), 'mx', 'float32', [3, 4]);
    g.output(g.op('Min', [a, g.f32(0.1)]), 'mn', 'float32', [3, 4]);
    const table = g.init('table', rand(r, 5 * 4), [5, 4]);
    g.output(g.op('Gather', [table, ids], { axis: 0 }), 'emb', 'float32', [2, 3, 4]);
    // The T5 position-bias pattern: Range over a Shape, clipped distances, Gather from a table.
    const len = g.op('Squeeze', [g.shape(a, 0, 1), g.i64([0])]);
    const pos = g.op('Range', [g.i64(0), len, g.i64(1)]);
    const rel = g.sub(g.unsqueeze(pos, [0]), g.unsqueeze(pos, [1]));
    const idx = g.add(g.op('Min', [g.op('Max', [rel, g.i64(-1)]), g.i64(1)]), g.i64(1));
    const bias = g.op('Gather', [table, idx], { axis: 0 }); // [3, 3, 4]
    g.output(g.add(bias, g.op('Expand', [a, g.concat([g.shape(a, 0, 1), g.i64([3, 4])], 0)])), 'pb', 'float32', [3, 3, 4]);
    const idsData = BigInt64Array.from([0n, 2n, 2n, 4n, 0n, 2n]);
    await gradCheck(g, ['a', 'b', 'table'], { a: f(r, [3, 4]), b: f(r, [4]), ids: { data: idsData, dims: [2, 3] } }, { eps: 1e-3 });
  });

  test('Conv k3 s1 p1 and k3 s2 p1, ConvTranspose k3 s2 p1 output_padding 1: input, filter and bias', async () => {
    const r = rng(8);
    const g = new GraphBuilder('t');
    const x = g.input('x', 'float32', [2, 3, 5, 5]);
    const w = g.input('w', 'float32', [4, 3, 3, 3]);
    const b = g.input('b', 'float32', [4]);
    const wt = g.input('wt', 'float32', [3, 2, 3, 3]);
    const bt = g.input('bt', 'float32', [2]);
    g.output(g.op('Conv', [x, w, b], { kernel_shape: [3, 3], pads: [1, 1, 1, 1], strides: [1, 1] }), 'c1', 'float32', [2, 4, 5, 5]);
    g.output(g.op('Conv', [x, w], { kernel_shape: [3, 3], pads: [1, 1, 1, 1], strides: [2, 2] }), 'c2', 'float32', [2, 4, 3, 3]);
    g.output(
      g.op('ConvTranspose', [x, wt, bt], { kernel_shape: [3, 3], pads: [1, 1, 1, 1], strides: [2, 2], output_padding: [1, 1] }),
      'ct',
      'float32',
      [2, 2, 10, 10],
    );
    await gradCheck(g, ['x', 'w', 'b', 'wt', 'bt'], { x: f(r, [2, 3, 5, 5]), w: f(r, [4, 3, 3, 3]), b: f(r, [4]), wt: f(r, [3, 2, 3, 3]), bt: f(r, [2]) });
  });
});

describe('gradient graph construction', () => {
  test('prunes what the loss does not need, folds shape arithmetic, zero gradient for an unused wrt', async () => {
    const g = new GraphBuilder('t');
    const x = g.input('x', 'float32', ['batch', 4]);
    const u = g.input('u', 'float32', ['batch', 4]);
    const y = g.op('Expand', [g.mul(x, x), g.concat([g.shape(x, 0, 1), g.i64([4])], 0)]);
    g.output(y, 'y', 'float32', ['batch', 4]);
    g.output(g.op('Exp', [u]), 'unused', 'float32', ['batch', 4]);
    const graph = gradientGraph(g.build(), { inputShapes: { x: [2, 4], u: [2, 4] }, loss: 'y', wrt: ['x', 'u'], keepOutputs: ['y'] });
    const ops = graph.nodes.map((n) => n.op);
    expect(ops).not.toContain('Exp'); // the unused branch is pruned
    expect(inferShapes(graph, { x: [2, 4], u: [2, 4] }).types.get('grad_x')?.shape).toEqual([2, 4]); // gradient graphs can be transformed again
    expect(ops).not.toContain('Shape'); // folded to a constant
    expect(graph.outputs.map((o) => [o.name, o.shape])).toEqual([
      ['y', [2, 4]],
      ['grad_x', [2, 4]],
      ['grad_u', [2, 4]],
    ]);
    const s = await ort.InferenceSession.create(encodeModel({ graph, opset: 17 }));
    const xd = Float32Array.from([1, 2, 3, 4, -1, -2, -3, -4]);
    const out = await s.run({ x: new ort.Tensor('float32', xd, [2, 4]), u: new ort.Tensor('float32', new Float32Array(8), [2, 4]) });
    expect(Array.from(out.grad_x.data as Float32Array)).toEqual(Array.from(xd, (v) => 2 * v));
    expect(Array.from(out.grad_u.data as Float32Array)).toEqual(new Array(8).fill(0));
    await s.release();
  });

  test('bad specs fail with one line naming the problem', () => {
    const g = new GraphBuilder('t');
    const x = g.input('x', 'float32', ['batch', 4]);
    g.output(g.relu(x), 'y', 'float32', ['batch', 4]);
    const graph = g.build();
    expect(() => gradientGraph(graph, { inputShapes: {}, loss: 'y', wrt: ['x'] })).toThrow(/no static shape for input "x"/);
    expect(() => gradientGraph(graph, { inputShapes: { x: [2, 4] }, loss: 'y', wrt: ['nope'] })).toThrow(/wrt "nope" is neither/);
    expect(() => gradientGraph(graph, { inputShapes: { x: [2, 4] }, loss: 'zz', wrt: ['x'] })).toThrow(/seed value "zz" is not in the graph/);
    expect(() => gradientGraph(graph, { inputShapes: { x: [2, 3] }, loss: 'y', wrt: ['x'] })).toThrow(/input "x" is \[batch,4\], got \[2,3\]/);
  });
});
