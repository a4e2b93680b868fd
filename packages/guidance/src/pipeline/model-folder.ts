import * as fs from 'fs';
import * as path from 'path';
import { UserError } from '@richhf/reward';
import { resolveModel, type ResolveOptions } from '@richhf/reward/io';

/**
 * The optimum / diffusers ONNX layout of a Stable Diffusion model:
 *
 *   model_index.json  scheduler/scheduler_config.json  tokenizer/ (vocab.json + merges.txt, or tokenizer.json)
 *   text_encoder/model.onnx  unet/model.onnx (+ external data)  vae_decoder/model.onnx  vae_encoder/model.onnx
 *
 * Produced by `optimum-cli export onnx --model <diffusers repo> <dir>` or found as such on the hub. A hub id
 * resolves through the reward package's resolver into the Hugging Face cache (offline: only what is cached).
 */

export interface SdFolder {
  dir: string;
  /** model_index.json, or {} when the folder has none. */
  modelIndex: Record<string, unknown>;
  textEncoder: string;
  unet: string;
  /** unet/config.json when present (in_channels, sample_size, cross_attention_dim). */
  unetConfig: Record<string, unknown>;
  schedulerConfig?: string;
  tokenizerDir?: string;
  vaeDecoderDir?: string;
  vaeEncoderDir?: string;
}

export type FolderOptions = Pick<ResolveOptions, 'revision' | 'offline' | 'cacheDir'>;

function readJsonIf(file: string): Record<string, unknown> {
  if (!fs.existsSync(file)) return {};
  try {
    const v = JSON.parse(fs.readFileSync(file, 'utf8'));
    if (v && typeof v === 'object' && !Array.isArray(v)) return v;
  } catch (e) {
    throw new UserError(`${file}: not JSON (${(e as Error).message.split('\n')[0]})`);
  }
  throw new UserError(`${file}: expected a JSON object`);
}

/** A folder or hub id → the layout's files, with a one-line UserError naming what is missing. */
export async function resolveSdFolder(dirOrHubId: string, opts: FolderOptions = {}): Promise<SdFolder> {
  let dir: string;
  try {
    dir = await resolveModel(dirOrHubId, opts);
  } catch (e) {
    throw new UserError(String((e as Error).message ?? e).split('\n')[0]);
  }
  const at = (...p: string[]) => path.join(dir, ...p);
  const has = (...p: string[]) => fs.existsSync(at(...p));
  const modelIndex = readJsonIf(at('model_index.json'));
  if (!has('unet', 'model.onnx')) {
    const hint = has('unet', 'diffusion_pytorch_model.safetensors') || has('unet', 'diffusion_pytorch_model.bin')
      ? 'this is a PyTorch diffusers folder; export it with `optimum-cli export onnx --model <it> <out dir>`'
      : 'expected the optimum ONNX layout: model_index.json, scheduler/, tokenizer/, text_encoder/, unet/, vae_decoder/';
    throw new UserError(`${at('unet', 'model.onnx')}: no such file (${hint})`);
  }
  if (!has('text_encoder', 'model.onnx')) throw new UserError(`${at('text_encoder', 'model.onnx')}: no such file (the CLIP text encoder of the optimum layout)`);
  const dirIf = (name: string, file: string) => (has(name, file) ? at(name) : undefined);
  const tokenizer = has('tokenizer', 'tokenizer.json') || (has('tokenizer', 'vocab.json') && has('tokenizer', 'merges.txt')) ? at('tokenizer') : undefined;
  return {
    dir,
    modelIndex,
    textEncoder: at('text_encoder', 'model.onnx'),
    unet: at('unet', 'model.onnx'),
    unetConfig: readJsonIf(at('unet', 'config.json')),
    schedulerConfig: has('scheduler', 'scheduler_config.json') ? at('scheduler', 'scheduler_config.json') : undefined,
    tokenizerDir: tokenizer,
    vaeDecoderDir: dirIf('vae_decoder', 'model.onnx'),
    vaeEncoderDir: dirIf('vae_encoder', 'model.onnx'),
  };
}
