import { UserError, initBackend } from '@richhf/reward';
import { TfAutoencoder } from './autoencoder';
import { ReadVaeOptions, VaeCheckpoint, partWeights, readVaeCheckpoint } from './checkpoint';
import { DifferentiableDecoder, LatentEncoder } from './decoder';
import { OrtDecoder, OrtEncoder, OrtVaeOptions } from './ort-decoder';

/*
 * One entry point per direction: a diffusers VAE folder or hub id → a decoder (or encoder) on the chosen
 * engine. onnxruntime is the default: multi-threaded on CPU, several times faster than tfjs-wasm; tfjs is
 * for callers that differentiate inside their own tfjs graph (the classes' tensor methods) or run on a
 * GPU backend.
 */

export type VaeEngine = 'tfjs' | 'ort';

export interface LoadVaeOptions extends ReadVaeOptions, Pick<OrtVaeOptions, 'threads' | 'maxSessions' | 'spin'> {
  /** 'ort' (default) or 'tfjs' (the backend chosen by RAHF_BACKEND / initBackend). */
  engine?: VaeEngine;
}

/** What both engines' decoders offer beyond the contract: diffusers' own output and its gradient. */
export interface VaeDecoder extends DifferentiableDecoder {
  readonly checkpoint: VaeCheckpoint;
  /** diffusers' `vae.decode(latents / scaling_factor).sample`: NCHW in [-1, 1], unclamped. */
  decodeDiffusers(latents: Float32Array, shape: [number, number, number, number]): Promise<Float32Array>;
  /** The VJP of `decodeDiffusers` (`gradSample` NCHW like the sample). */
  decodeDiffusersVjp(latents: Float32Array, shape: [number, number, number, number], gradSample: Float32Array): Promise<{ sample: Float32Array; gradLatents: Float32Array }>;
}

export interface VaeEncoder extends LatentEncoder {
  readonly checkpoint: VaeCheckpoint;
}

function engineOf(opts: LoadVaeOptions): VaeEngine {
  const e = opts.engine ?? 'ort';
  if (e !== 'ort' && e !== 'tfjs') throw new UserError(`engine "${e}" is not one of ort, tfjs`);
  if (opts.threads !== undefined && !(Number.isInteger(opts.threads) && opts.threads > 0)) throw new UserError(`threads must be a positive integer, got ${opts.threads}`);
  return e;
}

/**
 * The decoder of a diffusers AutoencoderTiny / AutoencoderKL (config.json `_class_name`): a folder, a pipeline
 * folder with vae/, or a hub id (through the Hugging Face cache). Anything else — another class, missing or
 * misshapen weights — is a one-line UserError naming the file, raised before any model is built.
 */
export async function loadDecoder(dirOrHubId: string, opts: LoadVaeOptions = {}): Promise<VaeDecoder> {
  const engine = engineOf(opts);
  const ckpt = await readVaeCheckpoint(dirOrHubId, opts);
  if (engine === 'ort') return new OrtDecoder(ckpt, opts);
  await initBackend();
  return TfAutoencoder.fromCheckpoint(ckpt);
}

/** The encoder of the same models (pixels in [0, 1] → latents scaled as samplers hold them). */
export async function loadEncoder(dirOrHubId: string, opts: LoadVaeOptions = {}): Promise<VaeEncoder> {
  const engine = engineOf(opts);
  const ckpt = await readVaeCheckpoint(dirOrHubId, opts);
  partWeights(ckpt, 'encoder');
  if (engine === 'ort') return new OrtEncoder(ckpt, opts);
  await initBackend();
  return TfAutoencoder.fromCheckpoint(ckpt);
}
