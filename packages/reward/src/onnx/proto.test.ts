import * as fs from 'fs';
import * as os from 'os';
import * as path from 'path';
import * as ort from 'onnxruntime-node';
import { GraphBuilder } from './graph';
import { decodeModel, encodeModel, writeModel } from './proto';

/** y = relu(x W + b) · s with W [K, N] of a few KB, b and s tiny: a model with big and small initializers. */
function smallModel(k = 64, n = 32) {
  const g = new GraphBuilder('t');
  const x = g.input('x', 'float32', ['batch', k]);
  const w = new Float32Array(k * n).map((_, i) => Math.sin(i) * 0.1);
  const y = g.relu(g.add(g.matMul(x, g.init('w', w, [k, n])), g.init('b', new Float32Array(n).fill(0.01), [n])));
  g.output(g.mul(y, g.f32(2)), 'y', 'float32', ['batch', n]);
  return { model: g.model({ metadata: { note: 'hello' } }), w };
}

function input(b: number, k: number): ort.Tensor {
  return new ort.Tensor('float32', new Float32Array(b * k).map((_, i) => Math.cos(i * 0.3)), [b, k]);
}

let tmp: string;
beforeAll(() => {
  tmp = fs.mkdtempSync(path.join(os.tmpdir(), 'onnx-proto-'));
});
afterAll(() => fs.rmSync(tmp, { recursive: true, force: true }));

test('a written model decodes with its fields and runs in onnxruntime with the expected values', async () => {
  const { model, w } = smallModel();
  const bytes = encodeModel(model);
  const m = decodeModel(bytes);
  expect(m.ir_version).toBe(8);
  expect(m.opset_import).toEqual([{ version: 17 }]); // proto3: the empty default domain is not written
  expect(m.metadata_props).toEqual([{ key: 'note', value: 'hello' }]);
  expect(m.graph.input[0].type.tensor_type.shape.dim).toEqual([{ dim_param: 'batch' }, { dim_value: 64 }]);
  const winit = m.graph.initializer.find((t: any) => t.name === 'w');
  expect(winit.dims).toEqual([64, 32]);
  expect(new Float32Array(new Uint8Array(winit.raw_data).buffer)).toEqual(w);

  const s = await ort.InferenceSession.create(bytes);
  const x = input(2, 64);
  const y = (await s.run({ x })).y.data as Float32Array;
  const xd = x.data as Float32Array;
  for (let r = 0; r < 2; r++)
    for (let j = 0; j < 32; j++) {
      let acc = 0;
      for (let i = 0; i < 64; i++) acc += xd[r * 64 + i] * w[i * 32 + j];
      expect(y[r * 32 + j]).toBeCloseTo(Math.max(0, acc + 0.01) * 2, 5);
    }
  await s.release();
});

test('over the threshold, large initializers go to an external data file that onnxruntime reads', async () => {
  const { model } = smallModel();
  const inline = path.join(tmp, 'inline.onnx');
  const ext = path.join(tmp, 'ext.onnx');
  writeModel(model, inline);
  const r = writeModel(model, ext, { externalDataThreshold: 1000 });
  expect(r.dataFile).toBe(path.join(tmp, 'ext.onnx.data'));
  expect(fs.existsSync(r.dataFile!)).toBe(true);
  expect(r.dataBytes).toBe(64 * 32 * 4); // only W (8 KiB) is over externalMinBytes; it sits at offset 0
  expect(fs.readdirSync(tmp).filter((f) => f.includes('.tmp-'))).toEqual([]);

  const m = decodeModel(fs.readFileSync(ext));
  const w = m.graph.initializer.find((t: any) => t.name === 'w');
  expect(w.data_location).toBe(1);
  expect(w.raw_data).toBeUndefined();
  expect(Object.fromEntries(w.external_data.map((e: any) => [e.key, e.value]))).toEqual({ location: 'ext.onnx.data', offset: '0', length: '8192' });
  expect(m.graph.initializer.find((t: any) => t.name === 'b').raw_data.length).toBe(128); // small: inline

  const x = input(3, 64);
  const a = await ort.InferenceSession.create(inline);
  const b = await ort.InferenceSession.create(ext);
  expect((await b.run({ x })).y.data).toEqual((await a.run({ x })).y.data);
  await Promise.all([a.release(), b.release()]);
});

test('several external tensors are page-aligned in the data file', () => {
  const g = new GraphBuilder('t');
  const x = g.input('x', 'float32', [3]);
  let y = x;
  for (let i = 0; i < 3; i++) y = g.add(y, g.op('ReduceSum', [g.init(`w${i}`, new Float32Array(1000 + i), [1000 + i])], { keepdims: 0 }));
  g.output(y, 'y', 'float32', [3]);
  const r = writeModel(g.model(), path.join(tmp, 'multi.onnx'), { externalDataThreshold: 0 });
  const m = decodeModel(fs.readFileSync(r.file));
  const offsets = m.graph.initializer
    .filter((t: any) => t.data_location === 1)
    .map((t: any) => Number(t.external_data.find((e: any) => e.key === 'offset').value));
  expect(offsets).toEqual([0, 4096, 8192]);
  expect(r.dataBytes).toBe(8192 + 1002 * 4);
});

test('attributes of every kind round-trip', () => {
  const g = new GraphBuilder('t');
  const x = g.input('x', 'float32', [2, 2]);
  g.output(g.op('LayerNormalization', [x, g.f32([1, 1]), g.f32([0, 0])], { axis: -1, epsilon: { float: 1e-5 } }), 'y', 'float32', [2, 2]);
  const n = decodeModel(encodeModel(g.model())).graph.node.find((q: any) => q.op_type === 'LayerNormalization');
  const attrs = Object.fromEntries(n.attribute.map((a: any) => [a.name, a]));
  expect(attrs.axis).toMatchObject({ type: 2, i: -1 });
  expect(attrs.epsilon.type).toBe(1);
  expect(attrs.epsilon.f).toBeCloseTo(1e-5, 10);
  const bad = new GraphBuilder('t');
  bad.op('X', [], { bad: 0.5 });
  expect(() => encodeModel(bad.model())).toThrow(/bad: 0.5 is not an integer/);
});
