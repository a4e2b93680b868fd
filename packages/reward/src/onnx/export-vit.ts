import * as tf from '@tensorflow/tfjs';
import { ViTModel, PreLNBlockNames, VIT_BLOCK } from '../models/vit';
import { Params } from '../nn/params';
import { GraphBuilder } from './graph';
import { activationG, attentionG, expandToBatch, fusedLinearG, layerNormG, linearG, weight } from './export-common';

/**
 * Patch embedding of NHWC pixels [B, S, S, C] as reshape/transpose + MatMul (src/models/vit.ts
 * patchEmbed): → tokens [B, g², D] in row-major patch order. The image side is fixed at export.
 */
export function patchEmbedG(g: GraphBuilder, pixels: string, w: tf.Tensor, bias: tf.Tensor | undefined, size: number, stem: string): string {
  const [d, c, p] = w.shape;
  const grid = Math.floor(size / p);
  if (grid * p !== size) throw new Error(`onnx export: image size ${size} is not a multiple of the patch size ${p}`);
  const patches = g.reshape(g.transpose(g.reshape(pixels, [-1, p, grid, p * c]), [0, 2, 1, 3]), [-1, grid * grid, p * p * c]);
  // Conv weight [D, C, P, P] → rows in the (py, px, c) order of the patches → [P·P·C, D].
  const wm = weight(g, w, `${stem}.weight`, {
    tag: 'patch',
    fn: (x) => tf.transpose(tf.transpose(x, [0, 2, 3, 1]).reshape([d, p * p * c])),
    graph: (gb, x) => gb.transpose(gb.reshape(gb.transpose(x, [0, 2, 3, 1]), [d, p * p * c]), [1, 0]),
  });
  const y = g.matMul(patches, wm);
  return bias ? g.add(y, weight(g, bias, `${stem}.bias`)) : y;
}

export interface PreLNBlockG {
  heads: number;
  eps: number;
  act: string;
  qkvBias: boolean;
}

/** x + Attn(LN1 x), then + MLP(LN2 ·): src/models/vit.ts preLNBlock. */
export function preLNBlockG(g: GraphBuilder, x: string, p: Params, n: PreLNBlockNames, o: PreLNBlockG, d: number, bias?: string): string {
  const h = layerNormG(g, x, p, n.ln1, o.eps);
  const [q, k, v] = fusedLinearG(g, h, p, [n.q, n.k, n.v], o.qkvBias);
  const dh = d / o.heads;
  const a = attentionG(g, q, k, v, o.heads, dh, 1 / Math.sqrt(dh), bias);
  const x1 = g.add(x, linearG(g, a, p, n.o));
  const m = linearG(g, activationG(g, o.act, linearG(g, layerNormG(g, x1, p, n.ln2, o.eps), p, n.fc1)), p, n.fc2);
  return g.add(x1, m);
}

/** ViTModel.forward on normalised NHWC pixels at the config's image size → last_hidden_state [B, 1+N, D]. */
export function vitG(g: GraphBuilder, model: ViTModel, pixels: string): string {
  const c = model.config;
  const p = model.params.scope('embeddings.');
  const d = c.hidden_size;
  const tokens = patchEmbedG(
    g,
    pixels,
    p.get('patch_embeddings.projection.weight'),
    p.get('patch_embeddings.projection.bias'),
    c.image_size,
    'vit.patch',
  );
  const cls = expandToBatch(g, weight(g, p.get('cls_token'), 'vit.cls_token'), pixels, [1, d]);
  let x = g.add(g.concat([cls, tokens], 1), weight(g, p.get('position_embeddings'), 'vit.position_embeddings'));
  const o: PreLNBlockG = { heads: c.num_attention_heads, eps: c.layer_norm_eps, act: c.hidden_act, qkvBias: c.qkv_bias };
  for (let i = 0; i < c.num_hidden_layers; i++) x = preLNBlockG(g, x, model.params.scope(`encoder.layer.${i}.`), VIT_BLOCK, o, d);
  return layerNormG(g, x, model.params, 'layernorm', c.layer_norm_eps);
}

/** Plain ViT graph: pixel_values [B, S, S, C] (NHWC, normalised) → last_hidden_state [B, 1+N, D]. */
export function exportViTGraph(model: ViTModel): GraphBuilder {
  const c = model.config;
  const g = new GraphBuilder('vit');
  const px = g.input('pixel_values', 'float32', ['batch', c.image_size, c.image_size, c.num_channels]);
  const n = (c.image_size / c.patch_size) ** 2;
  g.output(vitG(g, model, px), 'last_hidden_state', 'float32', ['batch', n + 1, c.hidden_size]);
  return g;
}
