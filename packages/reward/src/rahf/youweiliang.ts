import { TensorMap } from '../io/tensors';

/**
 * youweiliang/RichHF publishes its trained model as a bare torch state_dict, without a config. Its
 * layout can be read back from the tensor shapes alone; this builds the youweiliang-style config.json
 * object (model_type "rahf_youweiliang", tower configs embedded) that rahfConfigFromJson accepts.
 * Not recoverable from shapes, and so taken from the towers youweiliang uses (google/vit-* and
 * t5-base): the ViT head width (64), GELU / ReLU activations and the norm epsilons.
 */
export function inferYouweiliangConfig(tensors: TensorMap, label: string): Record<string, unknown> {
  const shape = (name: string): number[] => {
    const t = tensors.get(name);
    if (!t) throw new Error(`${label}: not a youweiliang/RichHF RAHF checkpoint (no "${name}") and no config.json beside it`);
    return t.shape;
  };
  const count = (re: RegExp): number => {
    let n = 0;
    for (const k of tensors.keys()) {
      const m = re.exec(k);
      if (m) n = Math.max(n, Number(m[1]) + 1);
    }
    return n;
  };

  // ViT
  const [, , dv] = shape('vit.embeddings.cls_token');
  const [, , patch] = shape('vit.embeddings.patch_embeddings.projection.weight');
  const positions = shape('vit.embeddings.position_embeddings')[1] - 1;
  const grid = Math.round(Math.sqrt(positions));
  if (grid * grid !== positions) throw new Error(`${label}: ViT position embeddings hold ${positions} patches, not a square grid`);
  const vit = {
    model_type: 'vit',
    hidden_size: dv,
    num_hidden_layers: count(/^vit\.encoder\.layer\.(\d+)\./),
    num_attention_heads: dv / 64,
    intermediate_size: shape('vit.encoder.layer.0.intermediate.dense.weight')[0],
    hidden_act: 'gelu',
    layer_norm_eps: 1e-12,
    image_size: grid * patch,
    patch_size: patch,
    num_channels: 3,
    qkv_bias: tensors.has('vit.encoder.layer.0.attention.attention.query.bias'),
  };

  // T5
  const [vocab, d] = shape('t5.shared.weight');
  const [buckets, heads] = shape('t5.encoder.block.0.layer.0.SelfAttention.relative_attention_bias.weight');
  const inner = shape('t5.encoder.block.0.layer.0.SelfAttention.q.weight')[0];
  const gated = tensors.has('t5.encoder.block.0.layer.1.DenseReluDense.wi_0.weight');
  const dff = shape(`t5.encoder.block.0.layer.1.DenseReluDense.${gated ? 'wi_0' : 'wi'}.weight`)[0];
  const t5 = {
    model_type: 't5',
    vocab_size: vocab,
    d_model: d,
    d_kv: inner / heads,
    d_ff: dff,
    num_layers: count(/^t5\.encoder\.block\.(\d+)\./),
    num_decoder_layers: count(/^t5\.decoder\.block\.(\d+)\./),
    num_heads: heads,
    relative_attention_num_buckets: buckets,
    relative_attention_max_distance: 128,
    layer_norm_epsilon: 1e-6,
    feed_forward_proj: gated ? 'gated-gelu' : 'relu',
    tie_word_embeddings: tiedHead(tensors),
    decoder_start_token_id: 0,
    eos_token_id: 1,
    pad_token_id: 0,
  };

  // Heads
  const multi = [...tensors.keys()].some((k) => k.startsWith('score_predictor.plausibility.'));
  const sp = multi ? 'score_predictor.plausibility.' : 'score_predictor.';
  const hp = multi ? 'heatmap_predictor.implausibility.' : 'heatmap_predictor.';
  const nConv = count(new RegExp(`^${sp.replace(/\./g, '\\.')}conv_layers\\.(\\d+)\\.weight$`));
  const scoreConv: number[] = [];
  for (let k = 0; 3 * k < nConv; k++) scoreConv.push(shape(`${sp}conv_layers.${3 * k}.weight`)[0]);
  // Dense layers sit at even indices; all but the last (width 1) are hidden widths.
  const nDense = (count(new RegExp(`^${sp.replace(/\./g, '\\.')}linear_layers\\.(\\d+)\\.weight$`)) + 1) / 2;
  const scoreLinear: number[] = [];
  for (let k = 0; k < nDense - 1; k++) scoreLinear.push(shape(`${sp}linear_layers.${2 * k}.weight`)[0]);
  return {
    model_type: 'rahf_youweiliang',
    multi_heads: multi,
    image_size: grid * patch,
    patch_size: patch,
    heatmap_channels: [shape(`${hp}conv_layers.0.weight`)[0], shape(`${hp}conv_layers.3.weight`)[0], shape(`${hp}last_conv1.weight`)[0]],
    score_conv: scoreConv,
    score_linear: scoreLinear,
    vit,
    t5,
  };
}

/** A T5 head is tied when the file has no lm_head or stores a copy of the shared table. */
function tiedHead(tensors: TensorMap): boolean {
  const head = tensors.get('t5.lm_head.weight');
  if (!head) return true;
  const shared = tensors.get('t5.shared.weight')!;
  if (head.data === shared.data) return true;
  if (head.data.length !== shared.data.length) return false;
  for (let i = 0; i < head.data.length; i++) if (head.data[i] !== shared.data[i]) return false;
  return true;
}
