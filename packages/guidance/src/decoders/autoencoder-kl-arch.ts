import { Activation, ConfigReader, EncoderOutput, LatentAffine, NetOps, VaeArch, activationOf, latentAffine } from './net';

/*
 * AutoencoderKL (the Stable Diffusion VAE) as diffusers builds it from config.json:
 * diffusers/models/autoencoders/autoencoder_kl.py and vae.py (Encoder, Decoder), unet_2d_blocks.py
 * (UNetMidBlock2D, DownEncoderBlock2D, UpDecoderBlock2D), resnet.py (ResnetBlock2D), upsampling.py /
 * downsampling.py and attention_processor.py (Attention with group norm, residual). Ported from reading
 * those files; weight names are diffusers' module paths.
 *
 * Every GroupNorm has eps 1e-6; upsampling is nearest ×2 then a 3×3 conv; downsampling pads (0, 1, 0, 1)
 * and runs a stride-2 3×3 conv. The mid block is resnet → attention (one head of all channels) → resnet.
 * The encoder ends in the posterior's mean and log-variance (quant_conv when the config uses it).
 */

export interface KLConfig {
  inChannels: number;
  outChannels: number;
  latentChannels: number;
  blockChannels: number[];
  layersPerBlock: number;
  groups: number;
  act: Activation;
  midAttention: boolean;
  quantConv: boolean;
  postQuantConv: boolean;
  scalingFactor: number;
  shiftFactor: number;
  latentsMean?: number[];
  latentsStd?: number[];
}

const EPS = 1e-6;

export function klConfig(cfg: ConfigReader): KLConfig {
  const blockChannels = cfg.ints('block_out_channels', [64]);
  const down = cfg.strs('down_block_types', blockChannels.map(() => 'DownEncoderBlock2D'));
  const up = cfg.strs('up_block_types', blockChannels.map(() => 'UpDecoderBlock2D'));
  for (const [key, list, want] of [['down_block_types', down, 'DownEncoderBlock2D'], ['up_block_types', up, 'UpDecoderBlock2D']] as const) {
    if (list.length !== blockChannels.length) throw cfg.error(`${key} has ${list.length} entries but block_out_channels has ${blockChannels.length}`);
    const other = list.find((t) => t !== want);
    if (other) throw cfg.error(`${key}: "${other}" is not supported (${want})`);
  }
  const c: KLConfig = {
    inChannels: cfg.int('in_channels', 3),
    outChannels: cfg.int('out_channels', 3),
    latentChannels: cfg.int('latent_channels', 4),
    blockChannels,
    layersPerBlock: cfg.int('layers_per_block', 1),
    groups: cfg.int('norm_num_groups', 32),
    act: activationOf(cfg.json.act_fn ?? 'silu', cfg.label),
    midAttention: cfg.bool('mid_block_add_attention', true),
    quantConv: cfg.bool('use_quant_conv', true),
    postQuantConv: cfg.bool('use_post_quant_conv', true),
    scalingFactor: cfg.num('scaling_factor', 0.18215),
    shiftFactor: cfg.num('shift_factor', 0),
  };
  c.latentsMean = cfg.optNums('latents_mean', c.latentChannels);
  c.latentsStd = cfg.optNums('latents_std', c.latentChannels);
  if (!c.latentsMean !== !c.latentsStd) throw cfg.error('latents_mean and latents_std go together (one of them is null)');
  if (c.scalingFactor === 0 || c.latentsStd?.includes(0)) throw cfg.error('scaling_factor and latents_std must not be 0');
  const bad = blockChannels.find((ch) => ch % c.groups !== 0);
  if (bad !== undefined) throw cfg.error(`norm_num_groups ${c.groups} does not divide block_out_channels entry ${bad}`);
  return c;
}

export class KLArch implements VaeArch {
  readonly kind = 'AutoencoderKL';
  readonly latentChannels: number;
  readonly imageChannels: number;
  readonly scalingFactor: number;
  readonly shiftFactor: number;
  readonly upscale: number;
  readonly downscale: number;
  readonly unscale: LatentAffine;

  constructor(readonly config: KLConfig) {
    this.latentChannels = config.latentChannels;
    this.imageChannels = config.outChannels;
    this.scalingFactor = config.scalingFactor;
    this.shiftFactor = config.shiftFactor;
    this.upscale = 2 ** (config.blockChannels.length - 1);
    this.downscale = this.upscale;
    this.unscale = latentAffine(config.latentChannels, config.scalingFactor, config.shiftFactor, config.latentsMean, config.latentsStd);
  }

  private resnet<T>(ops: NetOps<T>, x: T, name: string, out: number): T {
    const { groups, act } = this.config;
    let h = ops.act(ops.groupNorm(x, `${name}.norm1`, groups, EPS), act);
    h = ops.conv(h, `${name}.conv1`, { out, k: 3 });
    h = ops.act(ops.groupNorm(h, `${name}.norm2`, groups, EPS), act);
    h = ops.conv(h, `${name}.conv2`, { out, k: 3 });
    const skip = ops.channels(x) === out ? x : ops.conv(x, `${name}.conv_shortcut`, { out, k: 1 });
    return ops.add(skip, h);
  }

  private midBlock<T>(ops: NetOps<T>, x: T, name: string): T {
    const ch = ops.channels(x);
    x = this.resnet(ops, x, `${name}.resnets.0`, ch);
    if (this.config.midAttention) {
      const a = `${name}.attentions.0`;
      x = ops.add(ops.spatialAttention(ops.groupNorm(x, `${a}.group_norm`, this.config.groups, EPS), a, 1), x);
    }
    return this.resnet(ops, x, `${name}.resnets.1`, ch);
  }

  decode<T>(ops: NetOps<T>, z: T): T {
    const c = this.config;
    const rev = [...c.blockChannels].reverse();
    if (c.postQuantConv) z = ops.conv(z, 'post_quant_conv', { out: c.latentChannels, k: 1 });
    let x = ops.conv(z, 'decoder.conv_in', { out: rev[0], k: 3 });
    x = this.midBlock(ops, x, 'decoder.mid_block');
    rev.forEach((ch, i) => {
      for (let j = 0; j <= c.layersPerBlock; j++) x = this.resnet(ops, x, `decoder.up_blocks.${i}.resnets.${j}`, ch);
      if (i < rev.length - 1) x = ops.upsampleConv(x, 2, `decoder.up_blocks.${i}.upsamplers.0.conv`, { out: ch, k: 3 });
    });
    x = ops.act(ops.groupNorm(x, 'decoder.conv_norm_out', c.groups, EPS), c.act);
    return ops.conv(x, 'decoder.conv_out', { out: c.outChannels, k: 3 });
  }

  encode<T>(ops: NetOps<T>, image: T): EncoderOutput<T> {
    const c = this.config;
    const L = c.latentChannels;
    let x = ops.conv(image, 'encoder.conv_in', { out: c.blockChannels[0], k: 3 });
    c.blockChannels.forEach((ch, i) => {
      for (let j = 0; j < c.layersPerBlock; j++) x = this.resnet(ops, x, `encoder.down_blocks.${i}.resnets.${j}`, ch);
      if (i < c.blockChannels.length - 1) x = ops.conv(x, `encoder.down_blocks.${i}.downsamplers.0.conv`, { out: ch, k: 3, stride: 2, pad: [0, 0, 1, 1] });
    });
    x = this.midBlock(ops, x, 'encoder.mid_block');
    x = ops.act(ops.groupNorm(x, 'encoder.conv_norm_out', c.groups, EPS), c.act);
    x = ops.conv(x, 'encoder.conv_out', { out: 2 * L, k: 3 });
    if (c.quantConv) x = ops.conv(x, 'quant_conv', { out: 2 * L, k: 1 });
    return { mean: ops.sliceChannels(x, 0, L), logvar: ops.sliceChannels(x, L, 2 * L) };
  }
}
