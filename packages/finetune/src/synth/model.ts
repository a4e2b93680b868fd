/**
 * The masked transformer over scene tokens, as ONNX graphs built with the reward package's GraphBuilder:
 * a bidirectional pre-LayerNorm transformer (MaskGIT / Muse's base transformer, here with the prompt's
 * tokens in the same sequence instead of cross-attention to a text encoder — a prompt of 9 tokens does not
 * need one), token and position embeddings, and an output head tied to the token embedding. Each position's
 * logits outside its field are masked, so the model spends nothing on ids a position can never take.
 *
 * The same builder makes the inference graph (parameters as initializers, any batch) and the training
 * graph (parameters as inputs, a fixed batch, masked-token cross-entropy), which gradientModel of
 * `@richhf/reward/onnx` differentiates; onnxruntime-node runs both.
 */
import { GraphBuilder, gradientModel, type OnnxModel } from '@richhf/reward/onnx';
import { Rng } from '@richhf/reward/data';
import { POSITION_RANGES, PROMPT_LEN, SEQ_LEN, VOCAB } from './tokens';

export interface SynthModelConfig {
  model_type: 'synth-scene-maskgit';
  /** Token layout version of tokens.ts the model was trained on. */
  token_layout: number;
  vocab_size: number;
  seq_len: number;
  prompt_len: number;
  hidden_size: number;
  num_layers: number;
  num_heads: number;
  intermediate_size: number;
  /** Side of the images its scenes are rendered at. */
  image_size: number;
}

export const TOKEN_LAYOUT = 1;

export function defaultConfig(over: Partial<Pick<SynthModelConfig, 'hidden_size' | 'num_layers' | 'num_heads' | 'intermediate_size'>> = {}): SynthModelConfig {
  return {
    model_type: 'synth-scene-maskgit',
    token_layout: TOKEN_LAYOUT,
    vocab_size: VOCAB,
    seq_len: SEQ_LEN,
    prompt_len: PROMPT_LEN,
    hidden_size: over.hidden_size ?? 128,
    num_layers: over.num_layers ?? 4,
    num_heads: over.num_heads ?? 4,
    intermediate_size: over.intermediate_size ?? 256,
    image_size: 128,
  };
}

export interface Param {
  data: Float32Array;
  shape: number[];
}
export type Params = Map<string, Param>;

/** Parameter names and shapes, in a fixed order. */
export function paramShapes(c: SynthModelConfig): Array<[string, number[]]> {
  const d = c.hidden_size;
  const out: Array<[string, number[]]> = [
    ['embed.tokens', [c.vocab_size, d]],
    ['embed.positions', [c.seq_len, d]],
  ];
  for (let l = 0; l < c.num_layers; l++) {
    const p = `layers.${l}.`;
    out.push(
      [`${p}ln1.weight`, [d]], [`${p}ln1.bias`, [d]],
      [`${p}attn.qkv.weight`, [d, 3 * d]], [`${p}attn.qkv.bias`, [3 * d]],
      [`${p}attn.out.weight`, [d, d]], [`${p}attn.out.bias`, [d]],
      [`${p}ln2.weight`, [d]], [`${p}ln2.bias`, [d]],
      [`${p}mlp.fc1.weight`, [d, c.intermediate_size]], [`${p}mlp.fc1.bias`, [c.intermediate_size]],
      [`${p}mlp.fc2.weight`, [c.intermediate_size, d]], [`${p}mlp.fc2.bias`, [d]],
    );
  }
  out.push(['final_ln.weight', [d]], ['final_ln.bias', [d]], ['head.bias', [c.vocab_size]]);
  return out;
}

/** GPT-2-style initialisation: N(0, 0.02), residual output projections scaled by 1/√(2·layers). */
export function initParams(c: SynthModelConfig, seed: number): Params {
  const rng = new Rng('synth-model-init', seed);
  const params: Params = new Map();
  for (const [name, shape] of paramShapes(c)) {
    const n = shape.reduce((a, b) => a * b, 1);
    const data = new Float32Array(n);
    if (/ln\d?\.weight$|final_ln\.weight$/.test(name)) data.fill(1);
    else if (shape.length === 2) {
      const std = /attn\.out|mlp\.fc2/.test(name) ? 0.02 / Math.sqrt(2 * c.num_layers) : 0.02;
      for (let i = 0; i < n; i++) data[i] = rng.normal(0, std);
    }
    params.set(name, { data, shape });
  }
  return params;
}

/** Additive logit mask [seq_len, vocab]: 0 where a position may take the id, −1e9 elsewhere. */
export function fieldMask(c: SynthModelConfig): Float32Array {
  const m = new Float32Array(c.seq_len * c.vocab_size).fill(-1e9);
  POSITION_RANGES.forEach((r, p) => m.fill(0, p * c.vocab_size + r.offset, p * c.vocab_size + r.offset + r.size));
  return m;
}

/** The transformer from ids [B, L] to field-masked logits [B, L, V]; `param(name)` is how a weight enters the graph. */
function forward(g: GraphBuilder, c: SynthModelConfig, ids: string, param: (name: string) => string): string {
  const d = c.hidden_size;
  const h = c.num_heads;
  const dh = d / h;
  const L = c.seq_len;
  const ln = (x: string, p: string) => g.op('LayerNormalization', [x, param(`${p}.weight`), param(`${p}.bias`)], { axis: -1, epsilon: { float: 1e-5 } }, 'ln');
  const linear = (x: string, p: string) => g.add(g.matMul(x, param(`${p}.weight`)), param(`${p}.bias`));
  // GELU as 0.5·x·(1 + erf(x/√2)): Erf has a gradient rule, so training and inference share the graph.
  const gelu = (x: string) => g.mul(g.mul(x, g.add(g.op('Erf', [g.div(x, g.f32(Math.SQRT2))]), g.f32(1))), g.f32(0.5));
  let x = g.add(g.op('Gather', [param('embed.tokens'), ids], { axis: 0 }), param('embed.positions'));
  for (let l = 0; l < c.num_layers; l++) {
    const p = `layers.${l}`;
    const qkv = linear(ln(x, `${p}.ln1`), `${p}.attn.qkv`);
    const [q, k, v] = g.split(qkv, [d, d, d], 2).map((t) => g.transpose(g.reshape(t, [-1, L, h, dh]), [0, 2, 1, 3]));
    const scores = g.mul(g.matMul(q, g.transpose(k, [0, 1, 3, 2])), g.f32(1 / Math.sqrt(dh)));
    const attn = g.matMul(g.op('Softmax', [scores], { axis: -1 }), v);
    const merged = g.reshape(g.transpose(attn, [0, 2, 1, 3]), [-1, L, d]);
    x = g.add(x, linear(merged, `${p}.attn.out`));
    x = g.add(x, linear(gelu(linear(ln(x, `${p}.ln2`), `${p}.mlp.fc1`)), `${p}.mlp.fc2`));
  }
  const y = ln(x, 'final_ln');
  const logits = g.add(g.matMul(y, g.transpose(param('embed.tokens'), [1, 0])), param('head.bias'));
  return g.add(logits, g.init('field_mask', fieldMask(c), [L, c.vocab_size], 'field_mask'));
}

/** Inference graph: ids [batch, L] int64 → logits [batch, L, V], parameters baked in as initializers. */
export function inferenceModel(c: SynthModelConfig, params: Params): OnnxModel {
  const g = new GraphBuilder('synth_scene_maskgit');
  const ids = g.input('ids', 'int64', ['batch', c.seq_len]);
  const logits = forward(g, c, ids, (name) => {
    const p = params.get(name);
    if (!p) throw new Error(`synth model: parameter ${name} missing`);
    return g.init(name, p.data, p.shape, `param:${name}`);
  });
  g.output(logits, 'logits', 'float32', ['batch', c.seq_len, c.vocab_size]);
  return g.model({ docString: 'scene-token masked transformer (@richhf/finetune)' });
}

/**
 * Training graph for a fixed batch: inputs `ids` [B, L] (with [MASK] where the model must predict),
 * `targets` [B, L, V] (the weight of each predicted position at its true id, 0 elsewhere: the loss is
 * −Σ targets·log softmax) and every parameter; outputs `loss` and `grad_<param>`.
 */
export function trainingModel(c: SynthModelConfig, batch: number): OnnxModel {
  const g = new GraphBuilder('synth_scene_maskgit_train');
  const ids = g.input('ids', 'int64', [batch, c.seq_len]);
  const targets = g.input('targets', 'float32', [batch, c.seq_len, c.vocab_size]);
  const shapes = new Map(paramShapes(c));
  const inputs = new Map<string, string>();
  for (const [name, shape] of shapes) inputs.set(name, g.input(name, 'float32', shape));
  const logits = forward(g, c, ids, (name) => inputs.get(name)!);
  const logp = g.op('LogSoftmax', [logits], { axis: -1 });
  const loss = g.op('Neg', [g.op('ReduceSum', [g.mul(logp, targets)], { keepdims: 0 })]);
  g.output(loss, 'loss', 'float32', []);
  const graph = g.build();
  const inputShapes: Record<string, number[]> = { ids: [batch, c.seq_len], targets: [batch, c.seq_len, c.vocab_size] };
  for (const [name, shape] of shapes) inputShapes[name] = shape;
  return gradientModel(graph, { inputShapes, loss: 'loss', wrt: [...shapes.keys()], keepOutputs: ['loss'] });
}
