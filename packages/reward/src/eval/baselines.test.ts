import * as path from 'path';
import * as tf from '@tensorflow/tfjs';
import { initBackend } from '../backend';
import type { RichHFRecord } from '../data/record';
import { readSafetensors } from '../io/safetensors';
import { loadCLIP } from '../models/clip';
import { parityDir } from '../parity/fixtures';
import { constantPredictor, loadClipBaseline, meansOf, pairCosine } from './baselines';
import type { EvalItem } from './evaluate';

beforeAll(async () => {
  await initBackend();
});

function rec(scores: [number, number, number, number], art: number[], mis: number[], size = 2): RichHFRecord {
  return {
    filename: 'x.png',
    artifactScore: scores[0],
    misalignmentScore: scores[1],
    aestheticsScore: scores[2],
    overallScore: scores[3],
    artifactMap: { width: size, height: size, data: Uint8Array.from(art) },
    misalignmentMap: { width: size, height: size, data: Uint8Array.from(mis) },
    promptMisalignmentLabel: '1',
  };
}

async function* iter<T>(xs: T[]): AsyncGenerator<T> {
  yield* xs;
}

test('meansOf: mean scores and pixel-wise mean maps / 255, other sizes resized to the first', async () => {
  const m = await meansOf(
    iter([rec([0.2, 1, 0.5, 0], [0, 255, 51, 0], [0, 0, 0, 0]), rec([0.4, 0, 0.5, 1], [255, 255, 0, 0], [102, 0, 0, 0])]),
    'hand',
  );
  expect(m.count).toBe(2);
  expect(m.scores.plausibility).toBeCloseTo(0.3, 12);
  expect(m.scores.alignment).toBe(0.5);
  expect(m.scores.aesthetics).toBe(0.5);
  expect(m.scores.overall).toBe(0.5);
  expect(Array.from(m.maps.implausibility.data)).toEqual([0.5, 1, 0.1, 0]);
  expect(Array.from(m.maps.misalignment.data)).toEqual([0.2, 0, 0, 0]);
  // A 4×4 map of constant 255 resizes to a 2×2 map of 255.
  const mixed = await meansOf(iter([rec([0, 0, 0, 0], [0, 0, 0, 0], [0, 0, 0, 0]), rec([0, 0, 0, 0], new Array(16).fill(255), new Array(16).fill(0), 4)]), 'mixed');
  expect(mixed.maps.implausibility.width).toBe(2);
  for (const v of Array.from(mixed.maps.implausibility.data)) expect(v).toBeCloseTo(0.5, 12);
  await expect(meansOf(iter([]), 'none')).rejects.toThrow(/none: no records to average/);
});

test('constant predictor: the same means for every sample, no misaligned words', async () => {
  const m = await meansOf(iter([rec([0.2, 1, 0.5, 0], [0, 255, 51, 0], [0, 0, 0, 0])]), 'one');
  const p = constantPredictor(m);
  const out = await p.predict([{} as EvalItem, {} as EvalItem]);
  expect(out).toHaveLength(2);
  for (const o of out) {
    expect(o.scores).toEqual(m.scores);
    expect(o.heatmaps!.implausibility).toBe(m.maps.implausibility);
    expect(o.misaligned).toEqual([]);
  }
});

test('pairCosine equals the diagonal of HF CLIP (transformers) image·text embeddings', async () => {
  const dir = path.join(parityDir(), 'models', 'clip_tiny');
  const io = readSafetensors(path.join(dir, 'io.safetensors'));
  const model = await loadCLIP(dir);
  const t = (k: string) => io.get(k)!;
  const px = tf.tidy(() => tf.transpose(tf.tensor(t('pixel_values_nchw').data as Float32Array, t('pixel_values_nchw').shape as [number, number, number, number]), [0, 2, 3, 1]) as tf.Tensor4D);
  const ids = tf.tensor2d(Int32Array.from(t('input_ids').data as Int32Array), t('input_ids').shape as [number, number], 'int32');
  const mask = tf.tensor2d(Int32Array.from(t('attention_mask').data as Int32Array), t('attention_mask').shape as [number, number], 'int32');
  const cos = await pairCosine(model, px, ids, mask);
  const img = t('image_embeds').data as Float32Array;
  const txt = t('text_embeds').data as Float32Array;
  const d = t('image_embeds').shape[1];
  let maxErr = 0;
  for (let i = 0; i < cos.length; i++) {
    let ref = 0;
    for (let k = 0; k < d; k++) ref += img[i * d + k] * txt[i * d + k];
    maxErr = Math.max(maxErr, Math.abs(cos[i] - ref));
  }
  expect(cos).toHaveLength(2);
  expect(maxErr).toBeLessThan(1e-5);
  await expect(pairCosine(model, px, tf.slice(ids, [0, 0], [1, -1]) as tf.Tensor2D)).rejects.toThrow(/2 images but 1 texts/);
  tf.dispose([px, ids, mask]);
  model.params.dispose();
});

test('loadClipBaseline: a CLIP directory without tokenizer.json is refused clearly', async () => {
  const dir = path.join(parityDir(), 'models', 'clip_tiny');
  await expect(loadClipBaseline(dir)).rejects.toThrow(/clip_tiny: no tokenizer\.json for the CLIP baseline/);
});
