import * as path from 'path';
import * as tf from '@tensorflow/tfjs';
import { readSafetensors } from '../io/safetensors';
import { HostTensor } from '../io/tensors';
import { loadViT } from '../models/vit';
import { expectClose } from './fixtures';

/** One output of a parity case: what the model produced and what HF produced. */
export interface CaseOutput {
  actual: Float32Array;
  expected: Float32Array;
  shape: number[];
}

/** io.safetensors entry `key`, with a one-line error naming the file when absent. */
export function ioTensor(io: Map<string, HostTensor>, file: string, key: string): HostTensor {
  const t = io.get(key);
  if (!t) throw new Error(`${file}: missing "${key}"`);
  return t;
}

/** Fixture pixels are NCHW (PyTorch); models take NHWC. */
export function nchwToNhwc(t: HostTensor): tf.Tensor4D {
  return tf.tidy(() => tf.tensor4d(t.data as Float32Array, t.shape as [number, number, number, number]).transpose([0, 2, 3, 1]));
}

export function output(actual: tf.Tensor, expected: HostTensor, key: string): CaseOutput {
  if (actual.shape.join(',') !== expected.shape.join(',')) {
    throw new Error(`${key}: shape [${actual.shape}] != expected [${expected.shape}]`);
  }
  return { actual: Float32Array.from(actual.dataSync()), expected: expected.data as Float32Array, shape: expected.shape };
}

/** Run a models/<vit case>: ViTModel on pixel_values_nchw; embeddings_output and last_hidden_state. */
export async function runVitCase(dir: string): Promise<Record<string, CaseOutput>> {
  const ioFile = path.join(dir, 'io.safetensors');
  const io = readSafetensors(ioFile);
  const model = await loadViT(dir);
  try {
    const px = nchwToNhwc(ioTensor(io, ioFile, 'pixel_values_nchw'));
    const emb = model.embeddings(px);
    const last = model.forward(px);
    try {
      return {
        embeddings_output: output(emb, ioTensor(io, ioFile, 'embeddings_output'), 'embeddings_output'),
        last_hidden_state: output(last, ioTensor(io, ioFile, 'last_hidden_state'), 'last_hidden_state'),
      };
    } finally {
      tf.dispose([px, emb, last]);
    }
  } finally {
    model.params.dispose();
  }
}

export async function checkVitCase(dir: string): Promise<void> {
  for (const [key, o] of Object.entries(await runVitCase(dir))) expectClose(`${path.basename(dir)}/${key}`, o.actual, o.expected);
}
