import * as fs from 'fs';
import * as os from 'os';
import * as path from 'path';
import { writeToyTextEncoder } from '../testing/toy-graphs';
import { OnnxTextEncoder } from './text-encoder';

let tmp: string;
beforeAll(() => {
  tmp = fs.mkdtempSync(path.join(os.tmpdir(), 'guide-te-'));
});
afterAll(() => fs.rmSync(tmp, { recursive: true, force: true }));

test.each(['int64', 'int32'] as const)('ids fed as the graph declares them (%s); last_hidden_state back as float32', async (idsType) => {
  const file = path.join(tmp, `te_${idsType}.onnx`);
  writeToyTextEncoder(file, { idsType, hidden: 3 });
  const te = await OnnxTextEncoder.load(file);
  try {
    expect(te.hiddenSize).toBe(3);
    const out = await te.encode([
      [49, 5, 98],
      [49, 98, 0],
    ]);
    expect(out.shape).toEqual([2, 3, 3]);
    expect([...out.data]).toEqual([49, 50, 51, 5, 6, 7, 98, 99, 100, 49, 50, 51, 98, 99, 100, 0, 1, 2]);
    await expect(te.encode([[1, 2], [3]])).rejects.toThrow('token id rows must be non-empty and of one length');
  } finally {
    await te.release();
  }
});

test('a graph without input_ids is a one-line error naming the file', async () => {
  const file = path.join(tmp, 'te_bad.onnx');
  writeToyTextEncoder(file, { inputName: 'tokens' });
  await expect(OnnxTextEncoder.load(file)).rejects.toThrow(
    `${file}: graph inputs are (tokens: int64 [batch, seq]); expected input_ids (optionally attention_mask) — a CLIP text encoder exported by optimum or torch.onnx`,
  );
});
