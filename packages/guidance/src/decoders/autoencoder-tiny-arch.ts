import { Activation, ConfigReader, EncoderOutput, LatentAffine, NetOps, VaeArch, activationOf, latentAffine } from './net';

/*
 * AutoencoderTiny (TAESD, https://github.com/madebyollin/taesd) as diffusers builds it from config.json:
 * diffusers/models/autoencoders/autoencoder_tiny.py, vae.py (EncoderTiny, DecoderTiny) and
 * unet_2d_blocks.py (AutoencoderTinyBlock). Ported from reading those files; weight names are the
 * nn.Sequential indices of `encoder.layers` / `decoder.layers`.
 *
 * Decoder: tanh(z / 3) · 3 (TAESD's soft clamp), conv + act, then per stage `num_decoder_blocks[i]` blocks,
 * a nearest upsample and a conv (no bias) — the last stage ends in a conv to the image channels (with bias)
 * instead. Its output is in [0, 1]; diffusers maps it to [-1, 1] (·2 − 1), and so does `decode` here.
 * Encoder: [-1, 1] → [0, 1] (diffusers), conv, then per stage a stride-2 conv (no bias, not the first
 * stage) and blocks, and a conv to the latent channels. No scaling: TAESD's latents are SD's scaled latents
 * (scaling_factor 1).
 * Block: conv-act-conv-act-conv plus the input (a 1×1 conv when channels change), then a ReLU whatever act_fn.
 */

export interface TinyConfig {
  inChannels: number;
  outChannels: number;
  latentChannels: number;
  encoderChannels: number[];
  decoderChannels: number[];
  encoderBlocks: number[];
  decoderBlocks: number[];
  act: Activation;
  upsamplingFactor: number;
  scalingFactor: number;
  shiftFactor: number;
}

export function tinyConfig(cfg: ConfigReader): TinyConfig {
  const c: TinyConfig = {
    inChannels: cfg.int('in_channels', 3),
    outChannels: cfg.int('out_channels', 3),
    latentChannels: cfg.int('latent_channels', 4),
    encoderChannels: cfg.ints('encoder_block_out_channels', [64, 64, 64, 64]),
    decoderChannels: cfg.ints('decoder_block_out_channels', [64, 64, 64, 64]),
    encoderBlocks: cfg.ints('num_encoder_blocks', [1, 3, 3, 3]),
    decoderBlocks: cfg.ints('num_decoder_blocks', [3, 3, 3, 1]),
    act: activationOf(cfg.json.act_fn ?? 'relu', cfg.label),
    upsamplingFactor: cfg.int('upsampling_scaling_factor', 2),
    scalingFactor: cfg.num('scaling_factor', 1),
    shiftFactor: cfg.num('shift_factor', 0),
  };
  if (c.encoderChannels.length !== c.encoderBlocks.length) throw cfg.error('encoder_block_out_channels and num_encoder_blocks differ in length');
  if (c.decoderChannels.length !== c.decoderBlocks.length) throw cfg.error('decoder_block_out_channels and num_decoder_blocks differ in length');
  if (cfg.str('upsample_fn', 'nearest') !== 'nearest') throw cfg.error(`upsample_fn "${cfg.json.upsample_fn}" is not supported (nearest)`);
  if (c.scalingFactor === 0) throw cfg.error('scaling_factor must not be 0');
  return c;
}

function block<T>(ops: NetOps<T>, x: T, name: string, out: number, act: Activation): T {
  let h = ops.act(ops.conv(x, `${name}.conv.0`, { out, k: 3 }), act);
  h = ops.act(ops.conv(h, `${name}.conv.2`, { out, k: 3 }), act);
  h = ops.conv(h, `${name}.conv.4`, { out, k: 3 });
  const skip = ops.channels(x) === out ? x : ops.conv(x, `${name}.skip`, { out, k: 1, bias: false });
  return ops.act(ops.add(h, skip), 'relu');
}

export class TinyArch implements VaeArch {
  readonly kind = 'AutoencoderTiny';
  readonly latentChannels: number;
  readonly imageChannels: number;
  readonly scalingFactor: number;
  readonly shiftFactor: number;
  readonly upscale: number;
  readonly downscale: number;
  readonly unscale: LatentAffine;

  constructor(readonly config: TinyConfig) {
    this.latentChannels = config.latentChannels;
    this.imageChannels = config.outChannels;
    this.scalingFactor = config.scalingFactor;
    this.shiftFactor = config.shiftFactor;
    this.upscale = config.upsamplingFactor ** (config.decoderBlocks.length - 1);
    this.downscale = 2 ** (config.encoderBlocks.length - 1);
    this.unscale = latentAffine(config.latentChannels, config.scalingFactor, config.shiftFactor);
  }

  decode<T>(ops: NetOps<T>, z: T): T {
    const c = this.config;
    let x = ops.affine(ops.tanh(ops.affine(z, 1 / 3, 0)), 3, 0);
    let i = 0;
    const name = () => `decoder.layers.${i++}`;
    x = ops.conv(x, name(), { out: c.decoderChannels[0], k: 3 });
    i++; // the activation's index
    x = ops.act(x, c.act);
    c.decoderBlocks.forEach((n, s) => {
      const ch = c.decoderChannels[s];
      for (let b = 0; b < n; b++) x = block(ops, x, name(), ch, c.act);
      const last = s === c.decoderBlocks.length - 1;
      if (last) x = ops.conv(x, name(), { out: c.outChannels, k: 3 });
      else {
        i++; // the upsample's index
        x = ops.upsampleConv(x, c.upsamplingFactor, name(), { out: ch, k: 3, bias: false });
      }
    });
    return ops.affine(x, 2, -1);
  }

  encode<T>(ops: NetOps<T>, image: T): EncoderOutput<T> {
    const c = this.config;
    let x = ops.affine(image, 0.5, 0.5);
    let i = 0;
    const name = () => `encoder.layers.${i++}`;
    c.encoderBlocks.forEach((n, s) => {
      const ch = c.encoderChannels[s];
      x = s === 0 ? ops.conv(x, name(), { out: ch, k: 3 }) : ops.conv(x, name(), { out: ch, k: 3, stride: 2, bias: false });
      for (let b = 0; b < n; b++) x = block(ops, x, name(), ch, c.act);
    });
    return { mean: ops.conv(x, name(), { out: c.latentChannels, k: 3 }) };
  }
}
