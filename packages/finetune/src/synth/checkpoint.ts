/**
 * Scene-generator checkpoints (`config.json` + `model.safetensors`, the project's checkpoint shape) and
 * the onnxruntime session that runs one. The bundled checkpoint is the generator trained on the world's
 * training split (`finetune generator train`, see the README).
 */
import { createHash } from 'crypto';
import * as fs from 'fs';
import * as os from 'os';
import * as path from 'path';
import type * as Ort from 'onnxruntime-node';
import { UserError } from '@richhf/reward';
import { readSafetensors, writeSafetensors, type TensorMap } from '@richhf/reward/io';
import { encodeModel } from '@richhf/reward/onnx';
import { writeFileAtomic } from '@richhf/reward/util';
import { defaultConfig, inferenceModel, paramShapes, TOKEN_LAYOUT, type Params, type SynthModelConfig } from './model';
import { SEQ_LEN, VOCAB } from './tokens';

/** This package's folder: the nearest one above this file whose package.json is @richhf/finetune's (from src/, dist/ or a transpiled copy). */
function packageRoot(): string {
  for (let d = __dirname; ; d = path.dirname(d)) {
    const pj = path.join(d, 'package.json');
    if (fs.existsSync(pj) && JSON.parse(fs.readFileSync(pj, 'utf8')).name === '@richhf/finetune') return d;
    if (path.dirname(d) === d) return path.resolve(__dirname, '..', '..');
  }
}

/** The generator shipped with the package. */
export const BUNDLED_SYNTH_GENERATOR = path.join(packageRoot(), 'assets', 'synth-generator');
/** The same generator finetuned on its best-of-8 set by RAHF plausibility (`finetune proof`'s plausibility model). */
export const BUNDLED_SYNTH_FINETUNED = path.join(packageRoot(), 'assets', 'synth-generator-finetuned');

export interface SynthCheckpoint {
  dir: string;
  config: SynthModelConfig;
  params: Params;
  /** First 12 hex digits of the weights' sha256: identifies the generator in run settings. */
  digest: string;
}

export function paramsDigest(params: Params): string {
  const h = createHash('sha256');
  for (const k of [...params.keys()].sort()) {
    const p = params.get(k)!;
    h.update(k);
    h.update(new Uint8Array(p.data.buffer, p.data.byteOffset, p.data.byteLength));
  }
  return h.digest('hex').slice(0, 12);
}

/** Writes `config.json` and `model.safetensors` into `dir` (each atomically). */
export function saveCheckpoint(dir: string, config: SynthModelConfig, params: Params, metadata: Record<string, string> = {}): void {
  fs.mkdirSync(dir, { recursive: true });
  const tensors: TensorMap = new Map();
  for (const [name] of paramShapes(config)) {
    const p = params.get(name)!;
    tensors.set(name, { dtype: 'float32', shape: p.shape, data: p.data });
  }
  writeSafetensors(path.join(dir, 'model.safetensors'), tensors, metadata);
  writeFileAtomic(path.join(dir, 'config.json'), JSON.stringify(config, null, 2) + '\n');
}

/** Reads a checkpoint folder (default: the bundled one), checking it against this package's token layout. */
export function loadCheckpoint(dir?: string): SynthCheckpoint {
  const d = dir && dir !== 'bundled' ? dir : BUNDLED_SYNTH_GENERATOR;
  const cfgFile = path.join(d, 'config.json');
  if (!fs.existsSync(cfgFile)) throw new UserError(`${d}: not a scene-generator checkpoint (no config.json)`);
  let config: SynthModelConfig;
  try {
    config = { ...defaultConfig(), ...JSON.parse(fs.readFileSync(cfgFile, 'utf8')) };
  } catch (e) {
    throw new UserError(`${cfgFile}: not JSON (${(e as Error).message})`);
  }
  if (config.model_type !== 'synth-scene-maskgit') throw new UserError(`${cfgFile}: model_type ${JSON.stringify(config.model_type)}, expected "synth-scene-maskgit"`);
  if (config.token_layout !== TOKEN_LAYOUT || config.vocab_size !== VOCAB || config.seq_len !== SEQ_LEN) {
    throw new UserError(`${cfgFile}: token layout ${config.token_layout} (vocab ${config.vocab_size}, length ${config.seq_len}); this package reads layout ${TOKEN_LAYOUT} (vocab ${VOCAB}, length ${SEQ_LEN})`);
  }
  const file = path.join(d, 'model.safetensors');
  if (!fs.existsSync(file)) throw new UserError(`${d}: no model.safetensors`);
  const tensors = readSafetensors(file);
  const params: Params = new Map();
  for (const [name, shape] of paramShapes(config)) {
    const t = tensors.get(name);
    if (!t) throw new UserError(`${file}: tensor ${name} missing`);
    if (t.shape.join(',') !== shape.join(',')) throw new UserError(`${file}: tensor ${name} has shape [${t.shape}], config says [${shape}]`);
    params.set(name, { data: Float32Array.from(t.data as Float32Array), shape });
  }
  return { dir: d, config, params, digest: paramsDigest(params) };
}

let ortModule: typeof Ort | undefined;
export function ort(): typeof Ort {
  // eslint-disable-next-line @typescript-eslint/no-require-imports
  ortModule ??= require('onnxruntime-node') as typeof Ort;
  return ortModule;
}

/** onnxruntime options for the 2-core machines this runs on: no spinning workers (they cost 2–3× when cores are shared). */
export function sessionOptions(threads?: number): Ort.InferenceSession.SessionOptions {
  return {
    intraOpNumThreads: threads ?? Math.min(4, os.cpus().length),
    graphOptimizationLevel: 'all',
    extra: { session: { intra_op: { allow_spinning: '0' } } },
  };
}

/** A generator model ready to run: logits for batches of token sequences. */
export class SynthModel {
  private constructor(
    readonly config: SynthModelConfig,
    readonly digest: string,
    private readonly session: Ort.InferenceSession,
  ) {}

  static async create(config: SynthModelConfig, params: Params, threads?: number): Promise<SynthModel> {
    const session = await ort().InferenceSession.create(encodeModel(inferenceModel(config, params)), sessionOptions(threads));
    return new SynthModel(config, paramsDigest(params), session);
  }

  static async open(dir?: string, threads?: number): Promise<SynthModel> {
    const ck = loadCheckpoint(dir);
    return SynthModel.create(ck.config, ck.params, threads);
  }

  /** Field-masked logits [rows, L, V] for `rows` sequences of ids. */
  async logits(ids: BigInt64Array, rows: number): Promise<Float32Array> {
    const o = ort();
    const out = await this.session.run({ ids: new o.Tensor('int64', ids, [rows, this.config.seq_len]) });
    return out.logits.data as Float32Array;
  }

  async dispose(): Promise<void> {
    await this.session.release();
  }
}
