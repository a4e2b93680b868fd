import * as fs from 'fs';
import * as path from 'path';
import { packageFixturesDir } from './parity';

/**
 * Test models: a tiny CLIP BPE vocabulary (ids fit sd_tiny's 99-token text encoder: pad "!" 0, bos 49, eos 98)
 * and an optimum-layout Stable Diffusion folder assembled from the sd_tiny parity fixtures.
 */

export const TINY_CLIP_VOCAB: Record<string, number> = {
  '!': 0,
  a: 1, c: 2, d: 3, e: 4, f: 5, h: 6, o: 7, p: 8, r: 9, t: 10,
  'a</w>': 11, 'd</w>': 12, 'e</w>': 13, 'f</w>': 14, 'o</w>': 15, 't</w>': 16, '.</w>': 17,
  ph: 18, pho: 19, 'to</w>': 20, 'photo</w>': 21, re: 22, 'red</w>': 23, ca: 24, 'cat</w>': 25,
  '<|startoftext|>': 49,
  '<|endoftext|>': 98,
};

export const TINY_CLIP_MERGES = ['p h', 'ph o', 't o</w>', 'pho to</w>', 'r e', 're d</w>', 'c a', 'ca t</w>'];

/** vocab.json, merges.txt and tokenizer_config.json of the tiny vocabulary in `dir`. */
export function writeTinyClipTokenizer(dir: string, opts: { maxLength?: number; pad?: string }): void {
  fs.mkdirSync(dir, { recursive: true });
  fs.writeFileSync(path.join(dir, 'vocab.json'), JSON.stringify(TINY_CLIP_VOCAB));
  fs.writeFileSync(path.join(dir, 'merges.txt'), ['#version: 0.2', ...TINY_CLIP_MERGES, ''].join('\n'));
  const config: Record<string, unknown> = { bos_token: '<|startoftext|>', eos_token: '<|endoftext|>', unk_token: '<|endoftext|>', model_max_length: opts.maxLength ?? 77 };
  if (opts.pad) config.pad_token = opts.pad;
  fs.writeFileSync(path.join(dir, 'tokenizer_config.json'), JSON.stringify(config));
}

/** The package's sd_tiny fixture folder. */
export function sdTinyDir(): string {
  return path.join(packageFixturesDir(), 'sd_tiny');
}

/** The SD scheduler config of the parity fixtures, as a DDIM scheduler_config.json. */
export function sdTinySchedulerConfig(): Record<string, unknown> {
  const json = JSON.parse(fs.readFileSync(path.join(packageFixturesDir(), 'schedulers.json'), 'utf8')) as { sd_config: Record<string, unknown> };
  return { _class_name: 'DDIMScheduler', ...json.sd_config, clip_sample: false, set_alpha_to_one: false };
}

/**
 * An optimum-layout folder in `dir` from the sd_tiny fixtures: model_index.json, scheduler/, tokenizer/ (the tiny
 * vocabulary, model_max_length 16 as the text encoder's position table), text_encoder/ and unet/ graphs.
 * `vaeDecoder` (a writer of vae_decoder/model.onnx + config.json) adds the decoder.
 */
export async function writeSdTinyFolder(dir: string, opts: { vaeDecoder?: (dir: string) => Promise<void> } = {}): Promise<void> {
  const src = sdTinyDir();
  const sub = (name: string) => {
    fs.mkdirSync(path.join(dir, name), { recursive: true });
    return path.join(dir, name);
  };
  const components: Record<string, [string, string]> = {
    scheduler: ['diffusers', 'DDIMScheduler'],
    text_encoder: ['diffusers', 'OnnxRuntimeModel'],
    tokenizer: ['transformers', 'CLIPTokenizer'],
    unet: ['diffusers', 'OnnxRuntimeModel'],
  };
  if (opts.vaeDecoder) components.vae_decoder = ['diffusers', 'OnnxRuntimeModel'];
  fs.mkdirSync(dir, { recursive: true });
  fs.writeFileSync(path.join(dir, 'model_index.json'), JSON.stringify({ _class_name: 'OnnxStableDiffusionPipeline', _diffusers_version: '0.40.0', ...components }, null, 1));
  fs.writeFileSync(path.join(sub('scheduler'), 'scheduler_config.json'), JSON.stringify(sdTinySchedulerConfig(), null, 1));
  writeTinyClipTokenizer(sub('tokenizer'), { maxLength: 16, pad: '!' });
  fs.copyFileSync(path.join(src, 'text_encoder', 'model.onnx'), path.join(sub('text_encoder'), 'model.onnx'));
  fs.copyFileSync(path.join(src, 'unet', 'model.onnx'), path.join(sub('unet'), 'model.onnx'));
  if (opts.vaeDecoder) await opts.vaeDecoder(sub('vae_decoder'));
}
