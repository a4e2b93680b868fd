import * as fs from 'fs';
import * as os from 'os';
import * as path from 'path';
import { GraphBuilder } from './graph';
import { writeModel } from './proto';
import { readGraph } from './read-graph';

let tmp: string;
beforeAll(() => {
  tmp = fs.mkdtempSync(path.join(os.tmpdir(), 'read-graph-'));
});
afterAll(() => fs.rmSync(tmp, { recursive: true, force: true }));

function model() {
  const g = new GraphBuilder('t');
  const x = g.input('x', 'float32', ['batch', 64]);
  const w = Float32Array.from({ length: 64 * 32 }, (_, i) => Math.sin(i));
  const y = g.op('LayerNormalization', [g.matMul(x, g.init('w', w, [64, 32])), g.f32(new Array(32).fill(2)), g.f32(new Array(32).fill(0.5))], { axis: -1, epsilon: { float: 0.25 } }); // float32-exact: attributes are stored as float32
  g.output(g.reshape(g.op('Softmax', [y], { axis: 1 }), [0, -1]), 'y', 'float32', ['batch', 32]);
  return g.model();
}

test.each([
  ['inline', {}],
  ['external data', { externalDataThreshold: 0 }],
])('a written model reads back as the same graph (%s)', (_name, opts) => {
  const m = model();
  const file = path.join(tmp, `m-${_name.replace(' ', '-')}.onnx`);
  writeModel(m, file, opts);
  const { graph, opset } = readGraph(file);
  expect(opset).toBe(m.opset);
  expect(graph.inputs).toEqual(m.graph.inputs);
  expect(graph.outputs).toEqual(m.graph.outputs);
  expect(graph.nodes).toEqual(m.graph.nodes.map((n) => ({ ...n, attrs: n.attrs && Object.keys(n.attrs).length ? n.attrs : undefined })).map((n) => JSON.parse(JSON.stringify(n))));
  expect(graph.initializers.map((t) => [t.name, t.dtype, t.dims, Array.from(t.data as ArrayLike<number | bigint>, Number)])).toEqual(
    m.graph.initializers.map((t) => [t.name, t.dtype, t.dims, Array.from(t.data as ArrayLike<number | bigint>, Number)]),
  );
});

test('missing files and external data fail with one line naming the file', () => {
  expect(() => readGraph(path.join(tmp, 'nope.onnx'))).toThrow(/nope.onnx: no such file/);
  const file = path.join(tmp, 'ext.onnx');
  writeModel(model(), file, { externalDataThreshold: 0 });
  fs.rmSync(`${file}.data`);
  expect(() => readGraph(file)).toThrow(/external data file .*ext.onnx.data is missing/);
});
