import * as path from 'path';
import * as tf from '@tensorflow/tfjs';
import * as ort from 'onnxruntime-node';
import { initBackend } from '../src/backend';
import { readSafetensors } from '../src/io/safetensors';
import { loadViT } from '../src/models/vit';
import { loadT5 } from '../src/models/t5';
import { loadCLIP } from '../src/models/clip';
import { exportOnnx } from '../src/onnx/export';
import { encodeModel } from '../src/onnx/proto';
import { compare } from '../src/parity/fixtures';
const FIX = 'test/fixtures/parity/models';
function nhwc(t: any) { return tf.tidy(() => tf.tensor4d(t.data, t.shape).transpose([0, 2, 3, 1])); }
function i64(t: any) { return new ort.Tensor('int64', BigInt64Array.from(Array.from(t.data as Int32Array, (v) => BigInt(v))), t.shape); }
async function sess(m: any) { return ort.InferenceSession.create(encodeModel(m), { intraOpNumThreads: 2 }); }
(async () => {
  await initBackend();
  {
    const dir = path.join(FIX, 'vit_tiny'); const io = readSafetensors(path.join(dir, 'io.safetensors'));
    const m = await loadViT(dir); const px = nhwc(io.get('pixel_values_nchw'));
    const s = await sess(exportOnnx(m, 'vit'));
    const r = await s.run({ pixel_values: new ort.Tensor('float32', px.dataSync() as Float32Array, px.shape) });
    console.log('vit', r.last_hidden_state.dims, compare(r.last_hidden_state.data as Float32Array, io.get('last_hidden_state')!.data));
  }
  for (const name of ['t5_tiny_relu', 't5_tiny_gated_gelu']) {
    const dir = path.join(FIX, name); const io = readSafetensors(path.join(dir, 'io.safetensors'));
    const m = await loadT5(dir);
    const s = await sess(exportOnnx(m, 't5-encoder'));
    const r = await s.run({ input_ids: i64(io.get('input_ids')), attention_mask: i64(io.get('attention_mask')) });
    console.log(name, 'enc', compare(r.last_hidden_state.data as Float32Array, io.get('encoder_last_hidden_state')!.data));
    const s2 = await sess(exportOnnx(m, 't5-decoder'));
    const r2 = await s2.run({ decoder_input_ids: i64(io.get('decoder_input_ids')), encoder_hidden_states: r.last_hidden_state, encoder_attention_mask: i64(io.get('attention_mask')) });
    console.log(name, 'logits', r2.logits.dims, compare(r2.logits.data as Float32Array, io.get('logits')!.data));
  }
  {
    const dir = path.join(FIX, 'clip_tiny'); const io = readSafetensors(path.join(dir, 'io.safetensors'));
    const m = await loadCLIP(dir); const px = nhwc(io.get('pixel_values_nchw'));
    const s = await sess(exportOnnx(m, 'clip'));
    const r = await s.run({ pixel_values: new ort.Tensor('float32', px.dataSync() as Float32Array, px.shape), input_ids: i64(io.get('input_ids')), attention_mask: i64(io.get('attention_mask')) });
    for (const k of ['image_embeds', 'text_embeds', 'logits_per_image']) console.log('clip', k, compare(r[k].data as Float32Array, io.get(k)!.data));
  }
})().catch((e) => { console.error(e); process.exit(1); });
