import * as path from 'path';
import * as tf from '@tensorflow/tfjs';
import { readSafetensors } from '../io/safetensors';
import { loadCLIP } from '../models/clip';
import { expectClose } from './fixtures';
import { CaseOutput, ioTensor, nchwToNhwc, output } from './vit-case';

/** Run a models/<clip case>: image_embeds, text_embeds and logits_per_image of HF CLIPModel. */
export async function runClipCase(dir: string): Promise<Record<string, CaseOutput>> {
  const ioFile = path.join(dir, 'io.safetensors');
  const io = readSafetensors(ioFile);
  const model = await loadCLIP(dir);
  try {
    const px = nchwToNhwc(ioTensor(io, ioFile, 'pixel_values_nchw'));
    const idsT = ioTensor(io, ioFile, 'input_ids');
    const maskT = ioTensor(io, ioFile, 'attention_mask');
    const ids = tf.tensor2d(Int32Array.from(idsT.data), idsT.shape as [number, number], 'int32');
    const mask = tf.tensor2d(Int32Array.from(maskT.data), maskT.shape as [number, number], 'int32');
    const img = model.imageEmbeds(px);
    const txt = model.textEmbeds(ids, mask);
    const logits = model.logitsPerImage(px, ids, mask);
    try {
      return {
        image_embeds: output(img, ioTensor(io, ioFile, 'image_embeds'), 'image_embeds'),
        text_embeds: output(txt, ioTensor(io, ioFile, 'text_embeds'), 'text_embeds'),
        logits_per_image: output(logits, ioTensor(io, ioFile, 'logits_per_image'), 'logits_per_image'),
      };
    } finally {
      tf.dispose([px, ids, mask, img, txt, logits]);
    }
  } finally {
    model.params.dispose();
  }
}

export async function checkClipCase(dir: string): Promise<void> {
  for (const [key, o] of Object.entries(await runClipCase(dir))) expectClose(`${path.basename(dir)}/${key}`, o.actual, o.expected);
}
