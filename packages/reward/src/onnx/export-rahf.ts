import { HEATMAP_NAMES, RahfConfig, SCORE_NAMES, gridSize, heatmapSize, visualTokenCount } from '../rahf/config';
import { RewardModel } from '../rahf/model';
import { PROJECTION } from '../rahf/init';
import { STEM_SKIP } from '../rahf/stem';
import { CAPTION_POOL } from '../rahf/caption-pool';
import { WORD_GROUNDING } from '../rahf/word-grounding';
import { GraphBuilder } from './graph';
import { linearG } from './export-common';
import { heatmapHeadG, imageStemG, scoreHeadG } from './export-heads';
import { embedG, exportT5CachedStepGraph, exportT5CrossKVGraph, t5EncoderG } from './export-t5';
import { vitG } from './export-vit';

/*
 * RewardModel.forward as ONNX graphs.
 *
 * Inputs: `pixel_values` [B, S, S, 3] float32 — normalised NHWC pixels at the model size, exactly what
 * RewardModel.forward takes ((x − mean) / std; resizing and normalisation stay outside the graph so
 * the scorer can use the PIL-exact preprocessing of src/image.ts) — and the prompt token ids
 * `input_ids` [B, L] int64, padded to the batch's longest prompt with the tokenizer's pad id. Configs
 * with mask_text_padding also take `attention_mask` [B, L] int64 (1 = token); youweiliang-style
 * configs run without a mask, like the model.
 *
 * The augmented-prompt variant runs one encoder pass per output with a task string in the text, so
 * its scores graph takes one id tensor per pass instead of `input_ids`:
 * `input_ids_score_<type>` (4) and, with heatmaps, `input_ids_heatmap_<type>` (2), each tokenised
 * from taskPrompt(format, kind, type, prompt) and padded on its own (plus `attention_mask_<kind>_<type>`
 * when masked). The ViT runs once and feeds every pass.
 *
 * Outputs: `score_<type>` [B] and, in the heatmap graph, `heatmap_<type>` [B, 16g, 16g]. The
 * multi-head scores graph also outputs `encoder_hidden` [B, L, D], the caption states the keyword decoder
 * reads (the caption part of its encoder output, grounded for word_grounding configs; free: the same
 * pass); the augmented-prompt variant gets it from the separate encoder graph.
 * onnxruntime runs every node of a graph whatever outputs are asked for, hence separate graphs for
 * the optional parts instead of optional outputs.
 */

/** One text input of a RAHF graph: the caption itself or one task string of the augmented variant. */
export interface RahfTextInput {
  ids: string;
  mask?: string;
  /** 'caption', or the task of an augmented-prompt pass. */
  kind: 'caption' | 'SCORE' | 'HEATMAP';
  type?: string;
}

export type RahfPart = 'scores' | 'heatmaps' | 'encoder';

/** The text inputs of a graph part, in graph order. */
export function rahfTextInputs(c: RahfConfig, part: RahfPart): RahfTextInput[] {
  const masked = c.maskTextPadding;
  const caption: RahfTextInput = { ids: 'input_ids', mask: masked ? 'attention_mask' : undefined, kind: 'caption' };
  if (part === 'encoder' || c.variant === 'multi_head') return [caption];
  const tasks: RahfTextInput[] = [];
  const add = (kind: 'SCORE' | 'HEATMAP', type: string) => {
    const suffix = `${kind.toLowerCase()}_${type}`;
    tasks.push({ ids: `input_ids_${suffix}`, mask: masked ? `attention_mask_${suffix}` : undefined, kind, type });
  };
  for (const t of SCORE_NAMES) add('SCORE', t);
  if (part === 'heatmaps') for (const t of HEATMAP_NAMES) add('HEATMAP', t);
  return tasks;
}

/** Output names of a graph part. */
export function rahfOutputs(c: RahfConfig, part: RahfPart): string[] {
  if (part === 'encoder') return ['encoder_hidden'];
  const out = SCORE_NAMES.map((t) => `score_${t}`);
  if (part === 'heatmaps') out.push(...HEATMAP_NAMES.map((t) => `heatmap_${t}`));
  if (c.variant === 'multi_head') out.push('encoder_hidden');
  return out;
}

/** rahf/caption-pool.ts captionMean: caption [B, L, D] averaged over the tokens of mask [B, L] int64 (none: all) → [B, D]. */
function captionMeanG(g: GraphBuilder, caption: string, mask?: string): string {
  if (!mask) return g.op('ReduceMean', [caption], { axes: [1], keepdims: 0 });
  const m = g.unsqueeze(g.cast(mask, 'float32'), [2]); // [B, L, 1]
  const sum = (x: string) => g.op('ReduceSum', [x, g.i64([1])], { keepdims: 0 });
  return g.div(sum(g.mul(caption, m)), sum(m));
}

/**
 * RewardModel.run's trunk as graph pieces: the visual tokens (ViT output, with or without CLS, projected to the
 * T5 width) built once, a joint T5 encode of [visual; caption] per text, the patch positions of an encoder
 * output (plus the stem skip) as an NCHW feature map [B, D, g, g], and the caption states the keyword decoder
 * reads. Shared by the inference and training graphs.
 */
export function rahfTrunkG(g: GraphBuilder, model: RewardModel, px: string) {
  const c = model.config;
  const d = c.t5.d_model;
  const grid = gridSize(c);
  const n = grid * grid;
  const nv = visualTokenCount(c);
  const stem = c.imageStem.length ? imageStemG(g, px, model.params, c.imageStem) : undefined;
  let vit = vitG(g, model.vit, stem ?? px);
  if (!c.keepClsInEncoder) vit = g.slice(vit, 1, 1, 1 + n);
  const visual = linearG(g, vit, model.params, PROJECTION);
  const start = c.keepClsInEncoder ? 1 : 0;
  // rahf/stem.ts STEM_SKIP: the stem's NHWC map projected to the T5 width, as [B, g·g, D] like the encoder positions.
  const skip = stem && c.imageStemSkip ? g.reshape(linearG(g, stem, model.params, STEM_SKIP), [-1, n, d]) : undefined;
  const captionHidden = (hidden: string): string => g.slice(hidden, 1, nv, 2 ** 62);
  // RewardModel.encodeParts: the patch positions plus the stem skip [B, N, D], and the caption states (grounded in
  // them for word_grounding configs), built once per encoder output.
  const parts = new Map<string, { image: string; caption: string }>();
  const partsOf = (hidden: string) => {
    let p = parts.get(hidden);
    if (!p) {
      let image = g.slice(hidden, 1, start, start + n);
      if (skip) image = g.add(image, skip);
      const cap = captionHidden(hidden);
      p = { image, caption: c.wordGrounding ? groundCaptionG(g, cap, image, model.params, d) : cap };
      parts.set(hidden, p);
    }
    return p;
  };
  return {
    encode: (ids: string, mask?: string): string => {
      const x = g.concat([visual, embedG(g, model.t5, ids)], 1);
      // Visual positions are always attended: pad the caption mask with ones in front.
      const joint = mask ? g.op('Pad', [mask, g.i64([0, nv, 0, 0]), g.i64(1)]) : undefined;
      return t5EncoderG(g, model.t5, x, joint);
    },
    /** `mask`: the caption's attention mask [B, L] int64, for configs that mask padding (caption pooling). */
    featureMap: (hidden: string, mask?: string): string => {
      const p = partsOf(hidden);
      let map = g.reshape(g.transpose(p.image, [0, 2, 1]), [-1, d, grid, grid]);
      if (c.captionPool) {
        // rahf/caption-pool.ts: mean of the caption states over real tokens, projected, added everywhere.
        const mean = captionMeanG(g, p.caption, mask);
        map = g.add(map, g.reshape(linearG(g, mean, model.params, CAPTION_POOL), [-1, d, 1, 1]));
      }
      return map;
    },
    /** What the keyword decoder reads: the caption part of the encoder output, grounded for word_grounding configs. */
    caption: (hidden: string): string => partsOf(hidden).caption,
  };
}

/** rahf/word-grounding.ts groundCaption: caption [B, L, D] + o(softmax(q(caption)·k(image)ᵀ/√D)·v(image)). */
function groundCaptionG(g: GraphBuilder, caption: string, image: string, p: RewardModel['params'], d: number): string {
  const lin = (x: string, n: string) => linearG(g, x, p, `${WORD_GROUNDING}.${n}`);
  const logits = g.mul(g.matMul(lin(caption, 'q'), g.transpose(lin(image, 'k'), [0, 2, 1])), g.f32(1 / Math.sqrt(d)));
  return g.add(caption, lin(g.matMul(g.op('Softmax', [logits], { axis: -1 }), lin(image, 'v')), 'o'));
}

/**
 * RAHF graph part:
 * - 'scores': scores only (the fast common case), plus encoder_hidden for multi-head models;
 * - 'heatmaps': scores and heatmaps (plus encoder_hidden for multi-head models);
 * - 'encoder': the caption's encoder output for keyword decoding (`encoder_hidden`).
 */
export function exportRahfGraph(model: RewardModel, part: RahfPart): GraphBuilder {
  const c = model.config;
  const d = c.t5.d_model;
  const s = c.imageSize;
  const g = new GraphBuilder(`rahf_${part}`);
  const px = g.input('pixel_values', 'float32', ['batch', s, s, 3]);
  const texts = rahfTextInputs(c, part).map((t) => {
    const len = t.kind === 'caption' ? 'text_len' : `text_len_${t.kind.toLowerCase()}_${t.type}`;
    return { ...t, idsV: g.input(t.ids, 'int64', ['batch', len]), maskV: t.mask ? g.input(t.mask, 'int64', ['batch', len]) : undefined };
  });
  const trunk = rahfTrunkG(g, model, px);
  const encode = (t: (typeof texts)[number]) => trunk.encode(t.idsV, t.maskV);
  const { featureMap, caption } = trunk;
  const head = (kind: 'score' | 'heatmap', type: string) => {
    const base = kind === 'score' ? 'score_predictor.' : 'heatmap_predictor.';
    return model.params.scope(c.variant === 'multi_head' ? `${base}${type}.` : base);
  };
  const side = heatmapSize(c);
  const emitScore = (t: string, feature: string) =>
    g.output(scoreHeadG(g, feature, head('score', t), c.scoreConv, c.scoreLinear), `score_${t}`, 'float32', ['batch']);
  const emitHeat = (t: string, feature: string) =>
    g.output(heatmapHeadG(g, feature, head('heatmap', t), side, c.heatmapStages), `heatmap_${t}`, 'float32', ['batch', side, side]);

  if (part === 'encoder') {
    g.output(caption(encode(texts[0])), 'encoder_hidden', 'float32', ['batch', 'text_len', d]);
  } else if (c.variant === 'multi_head') {
    const hidden = encode(texts[0]);
    const feature = featureMap(hidden, texts[0].maskV);
    for (const t of SCORE_NAMES) emitScore(t, feature);
    if (part === 'heatmaps') for (const t of HEATMAP_NAMES) emitHeat(t, feature);
    g.output(caption(hidden), 'encoder_hidden', 'float32', ['batch', 'text_len', d]);
  } else {
    for (const t of texts) {
      const feature = featureMap(encode(t), t.maskV);
      if (t.kind === 'SCORE') emitScore(t.type!, feature);
      else emitHeat(t.type!, feature);
    }
  }
  return g;
}

/**
 * The keyword decoder, as two graphs (T5Model.generate's computation with its KV cache):
 * - 'init': encoder_hidden_states [B, L, D] (the caption states, rahfTrunkG's `caption`) → cross_key_i,
 *   cross_value_i [B, H, L, d_kv] for every decoder layer, once per decoding;
 * - 'step': decoder_input_ids [B, 1] (the newest token), past_key_i / past_value_i [B, H, T, d_kv] (T = 0
 *   at the first step), the cross keys/values and, for masked configs, encoder_attention_mask [B, L]
 *   → logits [B, V] and present_key_i / present_value_i [B, H, T+1, d_kv].
 * The cache-free step graph of export-t5.ts (whole prefix each step) is the 't5-decoder-step' kind.
 */
export function exportRahfDecoderGraph(model: RewardModel, part: 'init' | 'step'): GraphBuilder {
  return part === 'init' ? exportT5CrossKVGraph(model.t5) : exportT5CachedStepGraph(model.t5, { encoderMask: model.config.maskTextPadding });
}
