import * as tf from '@tensorflow/tfjs';
import { Params } from '../nn/params';
import { linear } from '../nn/layers';
import { conv3x3, conv3x3s2, deconv3x3s2 } from './conv';

/*
 * RAHF's prediction heads on the fused image-token feature map, NHWC [B, g, g, C]. Parameter names
 * and order follow youweiliang/RichHF's model.py (nn.Sequential indices included) so its checkpoints
 * load unchanged; the structure is ported from its description, not its code. Conv weights are read as
 * tfjs filters (the model converts them from PyTorch layout at load, see conv.ts); the *Shapes
 * functions give checkpoint (PyTorch) shapes.
 */

/** T5-style "LayerNorm" over channels (no mean, no bias): x·rsqrt(mean_c x² + 1e-8)·scale, scale [C,1,1]. */
export function channelRmsNorm(x: tf.Tensor4D, scale: tf.Tensor): tf.Tensor4D {
  const c = x.shape[3];
  const variance = tf.mean(tf.square(x), 3, true);
  return tf.mul(tf.mul(x, tf.rsqrt(tf.add(variance, 1e-8))), scale.reshape([c])) as tf.Tensor4D;
}

/** ×2 upsampling stages of youweiliang's heatmap head (16× the patch grid); configs may use fewer. */
export const HEATMAP_STAGES = 4;

/** Output width of each upsampling stage: youweiliang's c0, c1, c1, c2 for four; fewer stages drop from the middle. */
export function heatmapStageWidths([c0, c1, c2]: [number, number, number], stages = HEATMAP_STAGES): number[] {
  return [...[c0, c1, c1].slice(0, stages - 1), c2];
}

function conv(x: tf.Tensor4D, p: Params, name: string): tf.Tensor4D {
  return conv3x3(x, p.get(`${name}.weight`), p.get(`${name}.bias`));
}

function norm(x: tf.Tensor4D, p: Params, name: string): tf.Tensor4D {
  return channelRmsNorm(x, p.get(`${name}.scale`));
}

/**
 * A ladder of 3×3 conv (stride 1 or 2, padding 1) → norm → ReLU, one stage per width, named
 * `${prefix}{3k}` (conv) and `${prefix}{3k+1}` (norm): the score heads' conv layers and the image stem.
 */
export function convNormRelu(x: tf.Tensor4D, p: Params, prefix: string, widths: number[], stride: 1 | 2 = 1): tf.Tensor4D {
  const op = stride === 1 ? conv3x3 : conv3x3s2;
  let y = x;
  for (let k = 0; k < widths.length; k++) {
    const c = op(y, p.get(`${prefix}${3 * k}.weight`), p.get(`${prefix}${3 * k}.bias`));
    y = tf.relu(norm(c, p, `${prefix}${3 * k + 1}`));
  }
  return y;
}

/** Parameters of {@link convNormRelu} on a `cin`-channel map, in checkpoint (PyTorch) shapes. */
export function convNormReluShapes(prefix: string, cin: number, widths: number[]): ParamShapes {
  const out: ParamShapes = [];
  widths.forEach((w, k) => {
    out.push([`${prefix}${3 * k}.weight`, [w, k ? widths[k - 1] : cin, 3, 3]], [`${prefix}${3 * k}.bias`, [w]]);
    out.push([`${prefix}${3 * k + 1}.scale`, [w, 1, 1]]);
  });
  return out;
}

/**
 * Score head → [B] in (0,1). convs: `conv_layers.{3k}` (3×3, padding 1) → norm `conv_layers.{3k+1}` →
 * ReLU for each width; then the map is flattened channels-first (C, H, W — PyTorch's flatten of NCHW)
 * and run through `linear_layers.{2k}` with ReLU between and a sigmoid at the end.
 */
export function scoreHead(feature: tf.Tensor4D, p: Params, convWidths: number[], linearWidths: number[]): tf.Tensor1D {
  return tf.tidy(() => {
    const x = convNormRelu(feature, p, 'conv_layers.', convWidths);
    const [b, h, w, c] = x.shape;
    let y: tf.Tensor = tf.transpose(x, [0, 3, 1, 2]).reshape([b, c * h * w]);
    for (let k = 0; k <= linearWidths.length; k++) {
      y = linear(y, p, `linear_layers.${2 * k}`);
      if (k < linearWidths.length) y = tf.relu(y);
    }
    return tf.sigmoid(y).reshape([b]) as tf.Tensor1D;
  });
}

/**
 * Heatmap head → [B, 16g, 16g] in (0,1).
 *   conv_layers: conv(C→c0) ReLU norm, conv(c0→c1) ReLU norm           (indices 0,2 / 3,5)
 *   4× { deconv_layers.i: ConvTranspose(k3,s2,p1,op1) norm ReLU;
 *        conv_layers2.i:  conv norm ReLU conv norm; + residual; ReLU } widths c0, c1, c1, c2
 *   last_conv1 (c2→c2) ReLU, last_conv2 (c2→1), sigmoid.
 */
export function heatmapHead(feature: tf.Tensor4D, p: Params, stages = HEATMAP_STAGES): tf.Tensor3D {
  return tf.tidy(() => {
    let x = tf.relu(conv(feature, p, 'conv_layers.0'));
    x = norm(x, p, 'conv_layers.2');
    x = norm(tf.relu(conv(x, p, 'conv_layers.3')), p, 'conv_layers.5');
    for (let i = 0; i < stages; i++) {
      x = tf.relu(norm(deconv3x3s2(x, p.get(`deconv_layers.${i}.0.weight`), p.get(`deconv_layers.${i}.0.bias`)), p, `deconv_layers.${i}.1`));
      const identity = x;
      let y = tf.relu(norm(conv(x, p, `conv_layers2.${i}.0`), p, `conv_layers2.${i}.1`));
      y = norm(conv(y, p, `conv_layers2.${i}.3`), p, `conv_layers2.${i}.4`);
      x = tf.relu(tf.add(y, identity)) as tf.Tensor4D;
    }
    x = tf.relu(conv(x, p, 'last_conv1'));
    const out = tf.sigmoid(conv(x, p, 'last_conv2'));
    const [b, h, w] = out.shape;
    return out.reshape([b, h, w]) as tf.Tensor3D;
  });
}

export type ParamShapes = [string, number[]][];

/** Every parameter of a score head on a C-channel, g×g map (names relative to the head). */
export function scoreHeadShapes(c: number, grid: number, convWidths: number[], linearWidths: number[]): ParamShapes {
  const out = convNormReluShapes('conv_layers.', c, convWidths);
  let fin = convWidths[convWidths.length - 1] * grid * grid;
  [...linearWidths, 1].forEach((w, k) => {
    out.push([`linear_layers.${2 * k}.weight`, [w, fin]], [`linear_layers.${2 * k}.bias`, [w]]);
    fin = w;
  });
  return out;
}

/** Every parameter of a heatmap head on a C-channel map with widths [c0, c1, c2]. */
export function heatmapHeadShapes(c: number, [c0, c1, c2]: [number, number, number], stages = HEATMAP_STAGES): ParamShapes {
  const out: ParamShapes = [];
  const convP = (name: string, o: number, i: number) => out.push([`${name}.weight`, [o, i, 3, 3]], [`${name}.bias`, [o]]);
  const normP = (name: string, n: number) => out.push([`${name}.scale`, [n, 1, 1]]);
  convP('conv_layers.0', c0, c);
  normP('conv_layers.2', c0);
  convP('conv_layers.3', c1, c0);
  normP('conv_layers.5', c1);
  let cin = c1;
  heatmapStageWidths([c0, c1, c2], stages).forEach((w, i) => {
    out.push([`deconv_layers.${i}.0.weight`, [cin, w, 3, 3]], [`deconv_layers.${i}.0.bias`, [w]]);
    normP(`deconv_layers.${i}.1`, w);
    convP(`conv_layers2.${i}.0`, w, w);
    normP(`conv_layers2.${i}.1`, w);
    convP(`conv_layers2.${i}.3`, w, w);
    normP(`conv_layers2.${i}.4`, w);
    cin = w;
  });
  convP('last_conv1', c2, c2);
  convP('last_conv2', 1, c2);
  return out;
}
