import * as fs from 'fs';
import * as path from 'path';
import * as tf from '@tensorflow/tfjs';
import * as ort from 'onnxruntime-node';
import { initBackend } from '../backend';
import { HostTensor } from '../io/tensors';
import { readSafetensors } from '../io/safetensors';
import { loadCLIP } from '../models/clip';
import { loadT5 } from '../models/t5';
import { loadViT } from '../models/vit';
import { caseDirs, compare, expectClose } from '../parity/fixtures';
import { exportOnnx } from './export';
import { encodeModel } from './proto';
import { greedyDecode, greedyDecodeCached } from './greedy-decode';
import { exportT5CachedStepGraph, exportT5CrossKVGraph } from './export-t5';

// Plain ViT / T5 / CLIP blocks exported to ONNX against the HF outputs stored in the parity fixtures
// (models/<case>/io.safetensors), within the parity tolerance (1e-4 abs, relative above 1).

beforeAll(async () => {
  await initBackend();
});

const measured: string[] = [];
afterAll(() => {
  if (measured.length) console.log(`onnx export vs HF fixtures, max errors:\n${measured.join('\n')}`);
});

function check(label: string, actual: ArrayLike<number>, expected: ArrayLike<number>): void {
  measured.push(`${label}: ${compare(actual, expected).maxErr.toExponential(2)}`);
  expectClose(label, actual, expected);
}

function nhwc(t: HostTensor): ort.Tensor {
  const x = tf.tidy(() => tf.tensor4d(t.data as Float32Array, t.shape as [number, number, number, number]).transpose([0, 2, 3, 1]));
  const out = new ort.Tensor('float32', Float32Array.from(x.dataSync()), x.shape);
  x.dispose();
  return out;
}

function int64(t: HostTensor): ort.Tensor {
  return new ort.Tensor('int64', BigInt64Array.from(Array.from(t.data as ArrayLike<number>, (v) => BigInt(v))), t.shape);
}

function session(m: ReturnType<typeof exportOnnx>): Promise<ort.InferenceSession> {
  return ort.InferenceSession.create(encodeModel(m), { intraOpNumThreads: 2 });
}

const cases = caseDirs('models').filter((d) => fs.existsSync(path.join(d, 'io.safetensors')));
const kindOf = (d: string) => JSON.parse(fs.readFileSync(path.join(d, 'config.json'), 'utf8')).model_type as string;

test('fixtures hold vit, t5 and clip cases', () => {
  expect(new Set(cases.map(kindOf))).toEqual(new Set(['vit', 't5', 'clip']));
});

for (const dir of cases) {
  const name = path.basename(dir);
  const kind = kindOf(dir);
  const io = readSafetensors(path.join(dir, 'io.safetensors'));
  const get = (k: string) => {
    const t = io.get(k);
    if (!t) throw new Error(`${dir}/io.safetensors: missing ${k}`);
    return t;
  };

  if (kind === 'vit') {
    test(`${name}: ViT last_hidden_state`, async () => {
      const model = await loadViT(dir);
      const s = await session(exportOnnx(model, 'vit'));
      const out = await s.run({ pixel_values: nhwc(get('pixel_values_nchw')) });
      expect(out.last_hidden_state.dims).toEqual(get('last_hidden_state').shape);
      check(`${name}/last_hidden_state`, out.last_hidden_state.data as Float32Array, get('last_hidden_state').data);
      await s.release();
      model.params.dispose();
    });
  }

  if (kind === 't5') {
    test(`${name}: T5 encoder, teacher-forced decoder logits and greedy generation`, async () => {
      const model = await loadT5(dir);
      const enc = await session(exportOnnx(model, 't5-encoder'));
      const mask = int64(get('attention_mask'));
      const hidden = (await enc.run({ input_ids: int64(get('input_ids')), attention_mask: mask })).last_hidden_state;
      check(`${name}/encoder_last_hidden_state`, hidden.data as Float32Array, get('encoder_last_hidden_state').data);
      const dec = await session(exportOnnx(model, 't5-decoder'));
      const logits = (await dec.run({ decoder_input_ids: int64(get('decoder_input_ids')), encoder_hidden_states: hidden, encoder_attention_mask: mask })).logits;
      expect(logits.dims).toEqual(get('logits').shape);
      check(`${name}/logits`, logits.data as Float32Array, get('logits').data);
      // Greedy decoding reproduces HF generate (max_new_tokens 6) exactly, through the cache-free
      // step graph and through the KV-cached pair.
      const want = get('greedy_generate');
      const [rows, cols] = want.shape;
      const expected = Array.from({ length: rows }, (_, r) => Array.from(want.data.subarray(r * cols, (r + 1) * cols)));
      const step = await session(exportOnnx(model, 't5-decoder-step'));
      expect(await greedyDecode(step, hidden, mask, model.config, 6)).toEqual(expected);
      const init = await ort.InferenceSession.create(encodeModel(exportT5CrossKVGraph(model).model()));
      const cached = await ort.InferenceSession.create(encodeModel(exportT5CachedStepGraph(model, { encoderMask: true }).model()));
      expect(await greedyDecodeCached(init, cached, hidden, mask, model.config, 6)).toEqual(expected);
      await Promise.all([enc.release(), dec.release(), step.release(), init.release(), cached.release()]);
      model.dispose();
    });
  }

  if (kind === 'clip') {
    test(`${name}: CLIP image/text embeddings and logits`, async () => {
      const model = await loadCLIP(dir);
      const s = await session(exportOnnx(model, 'clip'));
      const out = await s.run({
        pixel_values: nhwc(get('pixel_values_nchw')),
        input_ids: int64(get('input_ids')),
        attention_mask: int64(get('attention_mask')),
      });
      for (const k of ['image_embeds', 'text_embeds', 'logits_per_image']) {
        expect(out[k].dims).toEqual(get(k).shape);
        check(`${name}/${k}`, out[k].data as Float32Array, get(k).data);
      }
      await s.release();
      model.params.dispose();
    });
  }
}

test('exportOnnx names the model class a kind needs', async () => {
  const vit = await loadViT(cases.find((d) => kindOf(d) === 'vit')!);
  expect(() => exportOnnx(vit, 't5-encoder')).toThrow(/kind "t5-encoder" needs a T5Model, got a ViTModel/);
  vit.params.dispose();
});
