import * as fs from 'fs';
import * as os from 'os';
import * as path from 'path';
import { parityDir } from '../parity/fixtures';
import { writeSafetensors } from './safetensors';
import { HostTensor } from './tensors';
import { loadWeights, loadWeightsFile } from './weights';

const IO = path.resolve(__dirname, '../../test/fixtures/io');
let tmp: string;
beforeAll(() => {
  tmp = fs.mkdtempSync(path.join(os.tmpdir(), 'weights-test-'));
});
afterAll(() => fs.rmSync(tmp, { recursive: true, force: true }));

const t = (v: number[]): HostTensor => ({ dtype: 'float32', shape: [v.length], data: new Float32Array(v) });
const dir = () => fs.mkdtempSync(path.join(tmp, 'd-'));
const values = (m: Map<string, HostTensor>) => Object.fromEntries([...m].map(([k, x]) => [k, Array.from(x.data)]));

// deflated.pt holds {'w': 0..63}; nested.pt {'encoder.w', 'heads.0', 'heads.1'}.
const copyPt = (fixture: string, to: string) => fs.copyFileSync(path.join(IO, fixture), to);

describe('loadWeights', () => {
  test('the RAHF fixture directory loads model.safetensors', () => {
    const m = loadWeights(path.join(parityDir(), 'rahf/rahf_yl_multi'));
    expect(m.size).toBe(280);
    expect(m.has('t5.shared.weight')).toBe(true);
  });
  test('model.safetensors wins over the index and torch files', () => {
    const d = dir();
    writeSafetensors(path.join(d, 'model.safetensors'), { w: t([1]) });
    writeSafetensors(path.join(d, 'shard.safetensors'), { w: t([2]) });
    fs.writeFileSync(path.join(d, 'model.safetensors.index.json'), JSON.stringify({ weight_map: { w: 'shard.safetensors' } }));
    copyPt('deflated.pt', path.join(d, 'pytorch_model.bin'));
    expect(values(loadWeights(d))).toEqual({ w: [1] });
    fs.rmSync(path.join(d, 'model.safetensors'));
    expect(values(loadWeights(d))).toEqual({ w: [2] });
    fs.rmSync(path.join(d, 'model.safetensors.index.json'));
    expect(loadWeights(d).get('w')!.shape).toEqual([8, 8]);
  });
  test('a single .pt / .pth is used; several are ambiguous', () => {
    const d = dir();
    copyPt('nested.pt', path.join(d, 'rahf.pth'));
    expect([...loadWeights(d).keys()]).toEqual(['encoder.w', 'heads.0', 'heads.1']);
    copyPt('deflated.pt', path.join(d, 'other.pt'));
    expect(() => loadWeights(d)).toThrow(`${d}: several torch checkpoints (other.pt, rahf.pth); pass one file`);
  });
  test('a directory without weights', () => {
    const d = dir();
    fs.writeFileSync(path.join(d, 'config.json'), '{}');
    expect(() => loadWeights(d)).toThrow(
      `${d}: no model weights found (expected model.safetensors, model.safetensors.index.json or a torch .pt/.bin)`,
    );
    expect(() => loadWeights(path.join(d, 'nope'))).toThrow(`${path.join(d, 'nope')}: no such file or directory`);
  });
  test('a file path is loaded by its extension', () => {
    expect(loadWeights(path.join(IO, 'deflated.pt')).get('w')!.shape).toEqual([8, 8]);
  });
});

describe('loadWeightsFile', () => {
  test('by extension', () => {
    const d = dir();
    writeSafetensors(path.join(d, 'a.safetensors'), { x: t([3]) });
    expect(values(loadWeightsFile(path.join(d, 'a.safetensors')))).toEqual({ x: [3] });
    copyPt('nested.pt', path.join(d, 'b.ckpt'));
    expect(loadWeightsFile(path.join(d, 'b.ckpt')).size).toBe(3);
    fs.writeFileSync(path.join(d, 'c.h5'), 'x');
    expect(() => loadWeightsFile(path.join(d, 'c.h5'))).toThrow(`${path.join(d, 'c.h5')}: unknown weights file type`);
  });
  test('sharded torch checkpoints (pytorch_model.bin.index.json)', () => {
    const d = dir();
    copyPt('deflated.pt', path.join(d, 'pytorch_model-00001-of-00002.bin'));
    copyPt('nested.pt', path.join(d, 'pytorch_model-00002-of-00002.bin'));
    const index = path.join(d, 'pytorch_model.bin.index.json');
    const weightMap = { w: 'pytorch_model-00001-of-00002.bin', 'encoder.w': 'pytorch_model-00002-of-00002.bin' };
    fs.writeFileSync(index, JSON.stringify({ weight_map: weightMap }));
    expect([...loadWeights(d).keys()].sort()).toEqual(['encoder.w', 'heads.0', 'heads.1', 'w']);
    fs.writeFileSync(index, JSON.stringify({ weight_map: { ...weightMap, extra: 'pytorch_model-00001-of-00002.bin' } }));
    expect(() => loadWeightsFile(index)).toThrow(`${index}: tensor 'extra' is mapped to shard 'pytorch_model-00001-of-00002.bin' but is not in it`);
  });
});
