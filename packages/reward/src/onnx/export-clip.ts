import { CLIPModel, CLIP_BLOCK } from '../models/clip';
import { GraphBuilder, MASK_VALUE } from './graph';
import { additiveMaskG, dimScalar, expandToBatch, layerNormG, linearG, weight } from './export-common';
import { PreLNBlockG, patchEmbedG, preLNBlockG } from './export-vit';

/*
 * HF CLIPModel (src/models/clip.ts) as one graph: pixel_values [B, S, S, 3] (NHWC, CLIP-normalised),
 * input_ids and attention_mask [B', L] (int64) → image_embeds [B, P], text_embeds [B', P] (both
 * L2-normalised) and logits_per_image [B, B'].
 */

function l2normalize(g: GraphBuilder, x: string): string {
  return g.div(x, g.op('ReduceL2', [x], { axes: [-1], keepdims: 1 }));
}

function visionG(g: GraphBuilder, model: CLIPModel, pixels: string): string {
  const c = model.config.vision_config;
  const p = model.params.scope('vision_model.');
  const d = c.hidden_size;
  const tokens = patchEmbedG(g, pixels, p.get('embeddings.patch_embedding.weight'), undefined, c.image_size, 'clip.patch');
  const cls = expandToBatch(g, g.reshape(weight(g, p.get('embeddings.class_embedding'), 'clip.class_embedding'), [1, 1, d]), pixels, [1, d]);
  let x = g.add(g.concat([cls, tokens], 1), weight(g, p.get('embeddings.position_embedding.weight'), 'clip.vision_position'));
  x = layerNormG(g, x, p, 'pre_layrnorm', c.layer_norm_eps);
  const o: PreLNBlockG = { heads: c.num_attention_heads, eps: c.layer_norm_eps, act: c.hidden_act, qkvBias: true };
  for (let i = 0; i < c.num_hidden_layers; i++) x = preLNBlockG(g, x, p.scope(`encoder.layers.${i}.`), CLIP_BLOCK, o, d);
  const pooled = layerNormG(g, g.op('Squeeze', [g.slice(x, 1, 0, 1), g.i64([1])]), p, 'post_layernorm', c.layer_norm_eps);
  return linearG(g, pooled, model.params, 'visual_projection', false);
}

function textG(g: GraphBuilder, model: CLIPModel, ids: string, mask: string): string {
  const c = model.config.text_config;
  const p = model.params.scope('text_model.');
  const d = c.hidden_size;
  const tok = g.op('Gather', [weight(g, p.get('embeddings.token_embedding.weight'), 'clip.token_embedding'), ids], { axis: 0 });
  const posTable = weight(g, p.get('embeddings.position_embedding.weight'), 'clip.text_position');
  const len = g.shape(ids, 1, 2);
  const pos = g.op('Slice', [posTable, g.i64([0]), len, g.i64([0])]);
  let x = g.add(tok, pos);
  // Causal mask: key j > query i masked; plus padding.
  const r = g.op('Range', [g.i64(0), dimScalar(g, ids, 1), g.i64(1)]);
  const future = g.op('Greater', [g.unsqueeze(r, [0]), g.unsqueeze(r, [1])]);
  const causal = g.op('Where', [future, g.f32(MASK_VALUE), g.f32(0)]);
  const bias = g.add(g.unsqueeze(causal, [0, 1]), additiveMaskG(g, mask));
  const o: PreLNBlockG = { heads: c.num_attention_heads, eps: c.layer_norm_eps, act: c.hidden_act, qkvBias: true };
  for (let i = 0; i < c.num_hidden_layers; i++) x = preLNBlockG(g, x, p.scope(`encoder.layers.${i}.`), CLIP_BLOCK, o, d, bias);
  x = layerNormG(g, x, p, 'final_layer_norm', c.layer_norm_eps);
  // Pooling position: first eos (or, for legacy eos id 2, the largest id), as CLIPModel.eosOneHot.
  const key = c.eos_token_id === 2 ? g.cast(ids, 'float32') : g.cast(g.op('Equal', [ids, g.i64(c.eos_token_id)]), 'float32');
  const idx = g.op('ArgMax', [key], { axis: 1, keepdims: 1, select_last_index: 0 }); // [B, 1]
  const pooled = g.op('GatherND', [x, idx], { batch_dims: 1 }); // [B, D]
  return linearG(g, pooled, model.params, 'text_projection', false);
}

export function exportClipGraph(model: CLIPModel): GraphBuilder {
  const v = model.config.vision_config;
  const pdim = model.config.projection_dim;
  const g = new GraphBuilder('clip');
  const px = g.input('pixel_values', 'float32', ['image_batch', v.image_size, v.image_size, v.num_channels]);
  const ids = g.input('input_ids', 'int64', ['text_batch', 'seq']);
  const mask = g.input('attention_mask', 'int64', ['text_batch', 'seq']);
  const img = l2normalize(g, visionG(g, model, px));
  const txt = l2normalize(g, textG(g, model, ids, mask));
  const scale = g.op('Exp', [weight(g, model.params.get('logit_scale'), 'clip.logit_scale')]);
  const logits = g.mul(g.op('Gemm', [img, txt], { transB: 1 }), scale);
  g.output(img, 'image_embeds', 'float32', ['image_batch', pdim]);
  g.output(txt, 'text_embeds', 'float32', ['text_batch', pdim]);
  g.output(logits, 'logits_per_image', 'float32', ['image_batch', 'text_batch']);
  return g;
}
