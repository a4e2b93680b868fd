import * as path from 'path';
import * as tf from '@tensorflow/tfjs';
import { readSafetensors } from '../io/safetensors';
import { HostTensor, TensorMap } from '../io/tensors';
import { loadT5 } from '../models/t5';
import { compare } from './fixtures';

// Fixture generate call used max_new_tokens 6 (fixtures README, t5 section).
const MAX_NEW_TOKENS = 6;
const TOL = 1e-4;

function need(io: TensorMap, key: string, file: string): HostTensor {
  const t = io.get(key);
  if (!t) throw new Error(`${file}: missing key "${key}"`);
  return t;
}

function toTensor(t: HostTensor): tf.Tensor {
  return tf.tensor(t.data as Float32Array | Int32Array, t.shape, t.dtype === 'bool' ? 'bool' : t.dtype);
}

/**
 * Check a T5ForConditionalGeneration fixture directory (config.json, model.safetensors, io.safetensors)
 * against every t5 key of the fixtures README. Throws on the first key off by more than 1e-4
 * (abs, relative above 1) or on any generated id that differs.
 */
export async function checkT5Case(dir: string): Promise<void> {
  await measureT5Case(dir);
}

/** `checkT5Case` that also returns the max error per key (greedy_generate: 0 when identical). */
export async function measureT5Case(dir: string): Promise<Record<string, number>> {
  const ioFile = path.join(dir, 'io.safetensors');
  const io = readSafetensors(ioFile);
  const model = await loadT5(dir);
  const errors: Record<string, number> = {};
  const check = async (key: string, actual: tf.Tensor) => {
    const want = need(io, key, ioFile);
    if (actual.shape.join(',') !== want.shape.join(',')) {
      throw new Error(`${dir}: ${key} shape [${actual.shape}] != expected [${want.shape}]`);
    }
    const m = compare(await actual.data(), want.data);
    errors[key] = m.maxErr;
    if (m.maxErr > TOL) {
      throw new Error(`${dir}: ${key} max error ${m.maxErr.toExponential(3)} > ${TOL} at flat index ${m.index}`);
    }
  };
  const inputs = ['input_ids', 'attention_mask', 'decoder_input_ids', 'inputs_embeds'].map((k) => toTensor(need(io, k, ioFile)));
  const [ids, mask, decIds, embeds] = inputs as [tf.Tensor2D, tf.Tensor2D, tf.Tensor2D, tf.Tensor3D];
  const outs: tf.Tensor[] = [];
  try {
    const enc = model.encode({ inputIds: ids, attentionMask: mask });
    outs.push(enc);
    await check('encoder_last_hidden_state', enc);
    const logits = model.decode(decIds, enc, mask);
    outs.push(logits);
    await check('logits', logits);
    const fromEmbeds = model.encode({ inputsEmbeds: embeds });
    outs.push(fromEmbeds);
    await check('encoder_from_embeds', fromEmbeds);

    const want = need(io, 'greedy_generate', ioFile);
    const got = await model.generate(enc, mask, { maxNewTokens: MAX_NEW_TOKENS });
    const [rows, cols] = want.shape;
    const expected = Array.from({ length: rows }, (_, r) => Array.from(want.data.subarray(r * cols, (r + 1) * cols)));
    if (JSON.stringify(got) !== JSON.stringify(expected)) {
      throw new Error(`${dir}: greedy_generate ${JSON.stringify(got)} != expected ${JSON.stringify(expected)}`);
    }
    errors.greedy_generate = 0;
  } finally {
    tf.dispose([...inputs, ...outs]);
    model.dispose();
  }
  return errors;
}
