import { encodeModel, GraphBuilder } from '@richhf/reward/onnx';
import * as fs from 'fs';

/**
 * Small ONNX graphs with a Stable Diffusion part's interface and a known closed form, to test the pipeline's
 * boundary handling (fp16, timestep types, input checks) without a real model.
 */

const FLOAT16 = 10;

/**
 * Re-declare graph inputs / outputs as float16 in encoded model bytes. The reward package's builder declares
 * float32 only; a ValueInfoProto is `0a <len> name 12 <len> 0a <len> 08 <elem_type>`, so the element type byte
 * after a value's name is patched (1 → 10, both one-byte varints).
 */
export function declareFloat16(bytes: Uint8Array, names: string[]): Uint8Array {
  const out = Uint8Array.from(bytes);
  for (const name of names) {
    const pat = [0x0a, name.length, ...Buffer.from(name, 'utf8')];
    let hits = 0;
    for (let i = 0; i + pat.length + 6 < out.length; i++) {
      if (!pat.every((b, k) => out[i + k] === b)) continue;
      const j = i + pat.length;
      if (out[j] !== 0x12 || out[j + 2] !== 0x0a || out[j + 4] !== 0x08 || out[j + 5] !== 1) continue;
      out[j + 5] = FLOAT16;
      hits++;
    }
    if (hits === 0) throw new Error(`declareFloat16: no float32 value info named ${name}`);
  }
  return out;
}

/**
 * A UNet stand-in: out_sample = 2·sample + timestep + mean(encoder_hidden_states over sequence and hidden),
 * per batch item. `fp16` declares sample, encoder_hidden_states and out_sample float16; `timestep` its type.
 */
export function writeToyUNet(file: string, opts: { fp16?: boolean; timestep?: 'int64' | 'float32' | 'float16'; hidden?: number; inputNames?: [string, string, string] } = {}): void {
  const [sName, tName, cName] = opts.inputNames ?? ['sample', 'timestep', 'encoder_hidden_states'];
  const g = new GraphBuilder('toy_unet');
  const sample = g.input(sName, 'float32', ['batch', 4, 'h', 'w']);
  const tType = opts.timestep ?? 'int64';
  const t = g.input(tName, tType === 'int64' ? 'int64' : 'float32', [1]);
  const ctx = g.input(cName, 'float32', ['batch', 'seq', opts.hidden ?? 8]);
  const s32 = opts.fp16 ? g.op('Cast', [sample], { to: 1 }) : sample;
  const c32 = opts.fp16 ? g.op('Cast', [ctx], { to: 1 }) : ctx;
  const t32 = tType === 'float32' ? t : g.op('Cast', [t], { to: 1 });
  const mean = g.reshape(g.op('ReduceMean', [c32], { axes: [1, 2], keepdims: 1 }), [-1, 1, 1, 1]);
  let y = g.add(g.add(g.mul(s32, g.f32(2)), t32), mean);
  if (opts.fp16) y = g.op('Cast', [y], { to: FLOAT16 });
  g.output(y, 'out_sample', 'float32', ['batch', 4, 'h', 'w']);
  let bytes = encodeModel(g.model());
  const half = [...(opts.fp16 ? [sName, cName, 'out_sample'] : []), ...(tType === 'float16' ? [tName] : [])];
  if (half.length) bytes = declareFloat16(bytes, half);
  fs.writeFileSync(file, bytes);
}

/** A text-encoder stand-in: last_hidden_state[b, s, k] = ids[b, s] + k (hidden 8, or `hidden`). */
export function writeToyTextEncoder(file: string, opts: { hidden?: number; idsType?: 'int64' | 'int32'; inputName?: string } = {}): void {
  const hidden = opts.hidden ?? 8;
  const g = new GraphBuilder('toy_text');
  const ids = g.input(opts.inputName ?? 'input_ids', opts.idsType ?? 'int64', ['batch', 'seq']);
  const f = g.unsqueeze(g.op('Cast', [ids], { to: 1 }), [2]);
  const ramp = g.f32(Array.from({ length: hidden }, (_, k) => k), [1, 1, hidden]);
  g.output(g.add(f, ramp), 'last_hidden_state', 'float32', ['batch', 'seq', hidden]);
  fs.writeFileSync(file, encodeModel(g.model()));
}

/** A vae_decoder stand-in taking `channels`-channel latents (sample = the first 3 channels, unscaled). */
export function writeToyVaeDecoder(dir: string, channels: number): void {
  const g = new GraphBuilder('toy_vae_decoder');
  const z = g.input('latent_sample', 'float32', ['batch', channels, 'h', 'w']);
  g.output(g.slice(z, 1, 0, 3), 'sample', 'float32', ['batch', 3, 'h', 'w']);
  fs.mkdirSync(dir, { recursive: true });
  fs.writeFileSync(`${dir}/model.onnx`, encodeModel(g.model()));
  fs.writeFileSync(`${dir}/config.json`, JSON.stringify({ _class_name: 'AutoencoderKL', latent_channels: channels, block_out_channels: [8], scaling_factor: 1 }));
}
