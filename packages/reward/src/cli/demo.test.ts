import * as fs from 'fs';
import * as os from 'os';
import * as path from 'path';
import { initBackend } from '../backend';
import { RewardModel } from '../rahf/model';
import { PRESETS } from '../rahf/presets';
import { synthTokenizerFile } from '../train/tokenizer-build';
import { runDemo } from './demo';

// A micro random model (this file's own copy of the presets): the demo's plumbing, not its numbers.
Object.assign(PRESETS.tiny, { imageSize: 32, heatmapChannels: [4, 4, 4], scoreConv: [8, 4], scoreLinear: [8] });
Object.assign(PRESETS.tiny.vitJson, { image_size: 32, hidden_size: 16, num_hidden_layers: 1, num_attention_heads: 2, intermediate_size: 32 });
Object.assign(PRESETS.tiny.t5Json, { d_model: 16, d_kv: 8, d_ff: 32, num_layers: 1, num_decoder_layers: 1, num_heads: 2 });

let tmp: string;
beforeAll(async () => {
  await initBackend();
  tmp = fs.mkdtempSync(path.join(os.tmpdir(), 'rahf-demo-'));
  process.env.RAHF_CACHE_DIR = path.join(tmp, 'onnx-cache'); // the default engine exports the checkpoint once
  const m = await RewardModel.fromPreset('tiny', { tokenizer: synthTokenizerFile(), seed: 1 });
  await m.save(path.join(tmp, 'ckpt'));
  m.dispose();
});
afterAll(() => {
  delete process.env.RAHF_CACHE_DIR;
  fs.rmSync(tmp, { recursive: true, force: true });
});

test('generates a set, writes overlays, prints the evaluation tables and writes eval.json', async () => {
  const out: string[] = [];
  const err: string[] = [];
  const code = await runDemo(
    { out: path.join(tmp, 'demo'), n: 20, overlays: 2, checkpoint: path.join(tmp, 'ckpt'), progress: false },
    { stdout: (t) => out.push(t), stderr: (l) => err.push(l) },
  );
  expect(code).toBe(0);
  const overlays = fs.readdirSync(path.join(tmp, 'demo', 'overlays')).sort();
  expect(overlays).toHaveLength(4);
  expect(overlays[0]).toMatch(/^synth-7-000000\.(implausibility|misalignment)\.png$/);
  const text = out.join('\n');
  expect(text).toContain('plausibility');
  expect(text).toMatch(/implausibility: look at the .+ \(peak [\d.]+ at x \d+, y \d+/); // where a person should look
  expect(text).toContain('Evaluation on the 16 images');
  const json = JSON.parse(fs.readFileSync(path.join(tmp, 'demo', 'eval.json'), 'utf8'));
  expect(json.n).toBe(16);
  expect(Object.keys(json.baselines)).toContain('constant');
  expect(err.join('\n')).toContain(`writing to ${path.join(tmp, 'demo')}`);
  expect(err).toContainEqual(expect.stringMatching(/^rahf: engine ort \(onnxruntime-node/)); // the CPU default
  // A second run into the same folder replaces the set.
  expect(await runDemo({ out: path.join(tmp, 'demo'), n: 10, overlays: 0, checkpoint: path.join(tmp, 'ckpt'), progress: false }, { stdout: () => undefined, stderr: () => undefined })).toBe(0);
});

test('refuses a folder that holds something else', async () => {
  fs.mkdirSync(path.join(tmp, 'other', 'data'), { recursive: true });
  fs.writeFileSync(path.join(tmp, 'other', 'data', 'x.txt'), 'x');
  await expect(runDemo({ out: path.join(tmp, 'other'), checkpoint: path.join(tmp, 'ckpt') }, { stdout: () => undefined, stderr: () => undefined })).rejects.toThrow(/not empty and not a synthetic world/);
  await expect(runDemo({ n: 3 })).rejects.toThrow('--n must be an integer in [10, 100000], got 3');
});
