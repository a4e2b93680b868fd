import * as tf from '@tensorflow/tfjs';
import { Params } from '../nn/params';
import { TF_TO_TORCH_FILTER } from '../rahf/conv';
import { HEATMAP_STAGES } from '../rahf/heads';
import { STEM_PREFIX } from '../rahf/stem';
import { GraphBuilder } from './graph';
import { linearG, rmsNormG, weight } from './export-common';

/*
 * RAHF's score and heatmap heads (src/rahf/heads.ts) on an NCHW feature map [B, D, g, g] — ONNX's
 * Conv layout. The model keeps conv filters in the tfjs layout; they go back to PyTorch's
 * [out, in, kh, kw] (ConvTranspose: [in, out, kh, kw], ONNX's layout too) at export.
 */

function filter(g: GraphBuilder, f: tf.Tensor, stem: string): string {
  return weight(g, f, stem, { tag: 'torch', fn: (x) => tf.transpose(x, TF_TO_TORCH_FILTER), graph: (gb, x) => gb.transpose(x, TF_TO_TORCH_FILTER) });
}

/** PyTorch Conv2d(k3, stride, p1) with bias. */
function conv(g: GraphBuilder, x: string, p: Params, name: string, stride = 1): string {
  const w = filter(g, p.get(`${name}.weight`), `${name}.weight`);
  const b = weight(g, p.get(`${name}.bias`), `${name}.bias`);
  return g.op('Conv', [x, w, b], { kernel_shape: [3, 3], pads: [1, 1, 1, 1], strides: [stride, stride] }, 'conv');
}

/** PyTorch ConvTranspose2d(k3, s2, p1, output_padding 1) with bias: H → 2H. */
function deconv(g: GraphBuilder, x: string, p: Params, name: string): string {
  const w = filter(g, p.get(`${name}.weight`), `${name}.weight`);
  const b = weight(g, p.get(`${name}.bias`), `${name}.bias`);
  return g.op('ConvTranspose', [x, w, b], { kernel_shape: [3, 3], pads: [1, 1, 1, 1], strides: [2, 2], output_padding: [1, 1] }, 'deconv');
}

/** channelRmsNorm: RMS over channels (eps 1e-8) times the [C, 1, 1] scale. */
function norm(g: GraphBuilder, x: string, p: Params, name: string): string {
  return rmsNormG(g, x, weight(g, p.get(`${name}.scale`), `${name}.scale`), 1e-8, 1);
}

/** rahf/heads.ts convNormRelu on NCHW. */
function convNormReluG(g: GraphBuilder, x: string, p: Params, prefix: string, widths: number[], stride = 1): string {
  for (let k = 0; k < widths.length; k++) x = g.relu(norm(g, conv(g, x, p, `${prefix}${3 * k}`, stride), p, `${prefix}${3 * k + 1}`));
  return x;
}

/** rahf/stem.ts imageStem on NHWC pixels → NHWC [B, S/2^k, S/2^k, last width]; `p` is the model's root scope. */
export function imageStemG(g: GraphBuilder, pixels: string, p: Params, widths: number[]): string {
  return g.transpose(convNormReluG(g, g.transpose(pixels, [0, 3, 1, 2]), p, STEM_PREFIX, widths, 2), [0, 2, 3, 1]);
}

/** scoreHead → [B]. */
export function scoreHeadG(g: GraphBuilder, feature: string, p: Params, convWidths: number[], linearWidths: number[]): string {
  const x = convNormReluG(g, feature, p, 'conv_layers.', convWidths);
  let y = g.op('Flatten', [x], { axis: 1 }); // channels-first (C, H, W), as PyTorch's flatten of NCHW
  for (let k = 0; k <= linearWidths.length; k++) {
    y = linearG(g, y, p, `linear_layers.${2 * k}`);
    if (k < linearWidths.length) y = g.relu(y);
  }
  return g.reshape(g.sigmoid(y), [-1]);
}

/** heatmapHead → [B, 16g, 16g]. */
export function heatmapHeadG(g: GraphBuilder, feature: string, p: Params, side: number, stages = HEATMAP_STAGES): string {
  let x = norm(g, g.relu(conv(g, feature, p, 'conv_layers.0')), p, 'conv_layers.2');
  x = norm(g, g.relu(conv(g, x, p, 'conv_layers.3')), p, 'conv_layers.5');
  for (let i = 0; i < stages; i++) {
    x = g.relu(norm(g, deconv(g, x, p, `deconv_layers.${i}.0`), p, `deconv_layers.${i}.1`));
    let y = g.relu(norm(g, conv(g, x, p, `conv_layers2.${i}.0`), p, `conv_layers2.${i}.1`));
    y = norm(g, conv(g, y, p, `conv_layers2.${i}.3`), p, `conv_layers2.${i}.4`);
    x = g.relu(g.add(y, x));
  }
  x = g.relu(conv(g, x, p, 'last_conv1'));
  return g.reshape(g.sigmoid(conv(g, x, p, 'last_conv2')), [-1, side, side]);
}
