import * as fs from 'fs';
import * as path from 'path';
import { UserError } from '@richhf/reward';
import { ResolveOptions, TensorMap, readSafetensors, readTorchCheckpoint, resolveModel } from '@richhf/reward/io';
import { KLArch, klConfig } from './autoencoder-kl-arch';
import { TinyArch, tinyConfig } from './autoencoder-tiny-arch';
import { ConfigReader, VaeArch, checkWeights } from './net';

/*
 * A diffusers VAE folder (config.json + diffusion_pytorch_model.safetensors) — a local folder, a pipeline
 * folder with a vae/ subfolder, or a Hugging Face hub id resolved through the reward package's hub cache —
 * read into host tensors and checked against its config before any model is built.
 */

export interface VaeCheckpoint {
  /** The folder read (after hub resolution). */
  readonly dir: string;
  readonly configFile: string;
  readonly weightsFile: string;
  readonly arch: VaeArch;
  /** diffusers' parameter names; older checkpoints' attention names are renamed to today's. */
  readonly tensors: TensorMap;
}

export interface ReadVaeOptions extends Pick<ResolveOptions, 'revision' | 'offline' | 'cacheDir'> {
  /** Folder inside the model (e.g. "vae" in a Stable Diffusion pipeline repository). A local pipeline folder
   * whose root has no config.json but a vae/ subfolder is found without it. */
  subfolder?: string;
}

const WEIGHT_FILES = ['diffusion_pytorch_model.safetensors', 'diffusion_pytorch_model.fp16.safetensors', 'diffusion_pytorch_model.bin'];

/** Which folder holds the VAE: resolves hub ids (downloading config and weights only). */
async function vaeFolder(ref: string, opts: ReadVaeOptions): Promise<string> {
  const sub = opts.subfolder ?? '';
  if (fs.existsSync(ref)) {
    if (!fs.statSync(ref).isDirectory()) throw new UserError(`${ref}: is a file; expected a diffusers VAE folder (config.json + diffusion_pytorch_model.safetensors) or a hub id`);
    const dir = path.join(ref, sub);
    if (!sub && !fs.existsSync(path.join(dir, 'config.json')) && fs.existsSync(path.join(dir, 'vae', 'config.json'))) return path.join(dir, 'vae');
    return dir;
  }
  try {
    const root = await resolveModel(ref, { ...opts, files: [path.posix.join(sub, 'config.json'), path.posix.join(sub, WEIGHT_FILES[0])] });
    return path.join(root, sub);
  } catch (e) {
    throw new UserError(String((e as Error).message ?? e).split('\n')[0]);
  }
}

function readConfig(file: string): ConfigReader {
  if (!fs.existsSync(file)) throw new UserError(`${path.dirname(file)}: no config.json (expected a diffusers VAE folder: config.json + diffusion_pytorch_model.safetensors)`);
  let json: unknown;
  try {
    json = JSON.parse(fs.readFileSync(file, 'utf8'));
  } catch (e) {
    throw new UserError(`${file}: not valid JSON (${(e as Error).message.split('\n')[0]})`);
  }
  if (typeof json !== 'object' || json === null || Array.isArray(json)) throw new UserError(`${file}: expected a JSON object`);
  return new ConfigReader(json as Record<string, unknown>, file);
}

/** The architecture a config.json names (`_class_name`). */
export function archFromConfig(cfg: ConfigReader): VaeArch {
  const cls = cfg.json._class_name;
  if (cls === 'AutoencoderTiny') return new TinyArch(tinyConfig(cfg));
  if (cls === 'AutoencoderKL') return new KLArch(klConfig(cfg));
  throw cfg.error(`_class_name ${JSON.stringify(cls)} is not a supported VAE (AutoencoderTiny, AutoencoderKL)`);
}

/**
 * diffusers < 0.14 saved the mid-block attention as query/key/value/proj_attn (sometimes as 1×1 convs);
 * diffusers renames them on load, and so does this.
 */
function renameLegacy(tensors: TensorMap): TensorMap {
  const LEGACY: Record<string, string> = { query: 'to_q', key: 'to_k', value: 'to_v', proj_attn: 'to_out.0' };
  const out: TensorMap = new Map();
  for (const [k, t] of tensors) {
    const m = /^(.*\.attentions\.\d+)\.(query|key|value|proj_attn)\.(weight|bias)$/.exec(k);
    if (!m) {
      out.set(k, t);
      continue;
    }
    const shape = t.shape.length === 4 && t.shape[2] === 1 && t.shape[3] === 1 ? t.shape.slice(0, 2) : t.shape;
    out.set(`${m[1]}.${LEGACY[m[2]]}.${m[3]}`, { ...t, shape });
  }
  return out;
}

function readWeights(dir: string): { file: string; tensors: TensorMap } {
  const file = WEIGHT_FILES.map((f) => path.join(dir, f)).find((f) => fs.existsSync(f));
  if (!file) throw new UserError(`${dir}: no diffusion_pytorch_model.safetensors (or .fp16.safetensors / .bin) beside config.json`);
  try {
    return { file, tensors: file.endsWith('.bin') ? readTorchCheckpoint(file) : readSafetensors(file) };
  } catch (e) {
    const msg = String((e as Error).message ?? e).split('\n')[0];
    throw new UserError(msg.startsWith(file) ? msg : `${file}: ${msg}`);
  }
}

/**
 * Reads a diffusers VAE. The decoder's weights are checked against the config (every tensor present with the
 * expected shape); the encoder's are checked when an encoder is built (`checkEncoder`), since decode-only
 * checkpoints exist.
 */
export async function readVaeCheckpoint(dirOrHubId: string, opts: ReadVaeOptions = {}): Promise<VaeCheckpoint> {
  const dir = await vaeFolder(dirOrHubId, opts);
  const configFile = path.join(dir, 'config.json');
  const arch = archFromConfig(readConfig(configFile));
  const { file, tensors } = readWeights(dir);
  const ckpt = { dir, configFile, weightsFile: file, arch, tensors: renameLegacy(tensors) };
  checkWeights(arch, ckpt.tensors, file, 'decoder');
  return ckpt;
}

/** The weights a part of the network reads, checked (one-line UserError naming the weights file). */
export function partWeights(ckpt: VaeCheckpoint, part: 'decoder' | 'encoder'): Set<string> {
  return checkWeights(ckpt.arch, ckpt.tensors, ckpt.weightsFile, part);
}
