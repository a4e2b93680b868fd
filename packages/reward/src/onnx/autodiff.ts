import { OnnxGraph, OnnxModel, OnnxNode, OnnxTensor, OnnxValueInfo } from './proto';
import { inferShapes } from './shape-infer';
import { OPSET } from './graph';
import { Emitter, F32, constTensor } from './grad-emitter';
import { attr } from './shape-math';
import { NON_DIFFERENTIABLE, RULES, RuleContext, layerNormGrad } from './grad-rules';

/*
 * Reverse-mode automatic differentiation of ONNX graphs, as plain ONNX ops: onnxruntime-node has no
 * training ops, so the backward pass is generated here and runs with the forward pass as one ordinary
 * inference session (the gradients of RewardModel.scoreGrad, training steps with parameters fed as graph
 * inputs).
 *
 * API:
 *   gradientGraph(graph, spec) → OnnxGraph; gradientModel(graph, spec) → OnnxModel (opset GRAD_OPSET).
 *   spec.inputShapes  static shapes of the graph inputs (each gradient graph is built for fixed shapes:
 *                     shapes of every value are inferred and Shape-derived integers are folded into
 *                     constants, see shape-infer.ts);
 *   spec.loss         a float value of the forward graph; its sum is differentiated (a scalar loss is the
 *                     usual case), or
 *   spec.seeds        [{value, weight?}] to differentiate Σ weight·sum(value) (weight default 1), or
 *                     [{value, input: name}] where the graph gets an extra input `name` of the value's shape
 *                     holding dL/dvalue (upstream gradients or per-run weights fed at run time);
 *   spec.wrt          graph inputs and/or initializers to differentiate;
 *   spec.keepOutputs  forward values to keep as outputs (default: none);
 *   spec.gradName     output name of the gradient of each wrt (default `grad_<name>`).
 * The result has the original inputs (all of them, with the static shapes), the seed inputs, the kept
 * outputs and one output per wrt (zeros when the loss does not depend on it). Only nodes between `wrt` and
 * the loss get gradient nodes; forward nodes nothing needs are pruned.
 *
 * Every op of src/onnx/export-*.ts and src/train/loss-graph.ts that float values flow through has a rule below (integer and bool
 * values are not differentiated). Rules follow the textbook adjoints; the non-obvious ones:
 * - broadcasting binary ops reduce the gradient back to each operand's shape (ReduceSum + Reshape);
 * - MatMul with a 2-D right operand (weights) uses Gemm with transA/transB on the flattened rows, so no
 *   transposed copy of a weight is ever made;
 * - LayerNormalization asks the forward node for its Mean and InvStdDev outputs and writes the backward
 *   as (ĝ − mean(ĝ) − x̂·mean(ĝ·x̂))·rstd with ĝ = g·scale;
 * - Conv's input gradient is a ConvTranspose with the same filter (stride 1: a Conv with the filter
 *   transposed and flipped, which onnxruntime runs much faster), its filter gradient an im2col (strided
 *   Slices of the padded input) and one Gemm; ConvTranspose is the mirror image;
 * - Gather's table gradient is one-hot(indices)ᵀ · dy (Gemms over chunks of indices; ScatterND's "add" loses
 *   updates to repeated rows when onnxruntime runs it on several threads).
 */

export interface GradientSeed {
  value: string;
  /** Constant factor (default 1). */
  weight?: number;
  /** Feed dL/dvalue as graph input `input` instead of a constant. */
  input?: string;
}

export interface GradientSpec {
  inputShapes: Record<string, number[]>;
  loss?: string;
  seeds?: GradientSeed[];
  wrt: string[];
  keepOutputs?: string[];
  gradName?: (wrt: string) => string;
}

/** Opset of gradient graphs: LayerNormalization needs 17. */
export const GRAD_OPSET = Math.max(OPSET, 17);

/** The gradient graph of `graph` (see the file header). */
export function gradientGraph(graph: OnnxGraph, spec: GradientSpec): OnnxGraph {
  const { types, consts } = inferShapes(graph, spec.inputShapes);
  const initByName = new Map(graph.initializers.map((t) => [t.name, t]));
  const inputNames = new Set(graph.inputs.map((v) => v.name));
  for (const w of spec.wrt) {
    if (!inputNames.has(w) && !initByName.has(w)) throw new Error(`autodiff: wrt "${w}" is neither a graph input nor an initializer`);
    if (types.get(w)!.dtype !== F32) throw new Error(`autodiff: wrt "${w}" is not float32`);
  }
  const seeds: GradientSeed[] = spec.seeds ?? (spec.loss !== undefined ? [{ value: spec.loss }] : []);
  if (seeds.length === 0) throw new Error('autodiff: give a loss or seeds');
  for (const s of seeds) {
    const t = types.get(s.value);
    if (!t) throw new Error(`autodiff: loss/seed value "${s.value}" is not in the graph`);
    if (t.dtype !== F32) throw new Error(`autodiff: loss/seed value "${s.value}" is not float32`);
  }

  // Values that depend on a wrt through float ops.
  const active = new Set(spec.wrt);
  for (const n of graph.nodes) {
    if (NON_DIFFERENTIABLE.has(n.op)) continue;
    if (!n.inputs.some((v) => active.has(v))) continue;
    for (const o of n.outputs) if (o && types.get(o)?.dtype === F32) active.add(o);
  }

  const names = new Set<string>([...types.keys(), ...graph.inputs.map((v) => v.name)]);
  const e = new Emitter(names, types);
  const fwd = graph.nodes.map((n) => ({ ...n, outputs: [...n.outputs] }));
  const extraInputs: OnnxValueInfo[] = [];
  const grads = new Map<string, string[]>();
  const addGrad = (v: string, g: string) => {
    const l = grads.get(v);
    if (l) l.push(g);
    else grads.set(v, [g]);
  };
  for (const s of seeds) {
    const shape = types.get(s.value)!.shape;
    if (s.input !== undefined) {
      // Declared even when the loss does not depend on it, so callers can always feed it.
      if (names.has(s.input)) throw new Error(`autodiff: seed input name "${s.input}" is already used`);
      names.add(s.input);
      types.set(s.input, { dtype: F32, shape });
      extraInputs.push({ name: s.input, dtype: F32, shape });
    }
    if (!active.has(s.value)) continue;
    let g: string;
    if (s.input !== undefined) {
      g = s.input;
      if (s.weight !== undefined && s.weight !== 1) g = e.mul(g, e.f32(s.weight));
    } else g = e.fill(shape, s.weight ?? 1);
    addGrad(s.value, g);
  }

  const constOf = (v: string): number[] | undefined => {
    const c = consts.get(v);
    if (c) return c.data;
    const t = initByName.get(v);
    if (t && t.dtype === F32 && t.data.length <= 16) return Array.from(t.data as Float32Array);
    return undefined;
  };

  for (let ni = fwd.length - 1; ni >= 0; ni--) {
    const node = fwd[ni];
    const gy = node.outputs.map((o) => {
      const l = grads.get(o);
      return l ? e.sum(l) : undefined;
    });
    if (gy.every((g) => g === undefined)) continue;
    const need = (i: number) => i < node.inputs.length && !!node.inputs[i] && active.has(node.inputs[i]);
    if (!node.inputs.some((_, i) => need(i))) continue;
    const where = `autodiff: ${node.op} node "${node.name}"`;
    const ctx: RuleContext = { e, node, gy, need, shape: (v) => e.shape(v), constOf: (i) => constOf(node.inputs[i]), where };
    let gx: (string | undefined)[];
    if (node.op === 'LayerNormalization') {
      if (gy.slice(1).some((g) => g !== undefined)) throw new Error(`${where}: gradients of Mean/InvStdDev are not supported`);
      // Ask the forward node for its statistics.
      const s = types.get(node.inputs[0])!.shape;
      const a0 = attr(node, 'axis', -1);
      const axis = a0 < 0 ? a0 + s.length : a0;
      const stat = s.map((d, i) => (i < axis ? d : 1));
      for (const k of [1, 2]) {
        if (!node.outputs[k]) {
          node.outputs[k] = e.fresh(k === 1 ? 'ln_mean' : 'ln_rstd');
          types.set(node.outputs[k], { dtype: F32, shape: stat });
        }
      }
      gx = layerNormGrad(ctx, node.outputs[1], node.outputs[2]);
    } else {
      const rule = RULES[node.op];
      if (!rule) throw new Error(`${where}: no gradient rule for ${node.op}`);
      gx = rule(ctx);
    }
    gx.forEach((g, i) => {
      if (g !== undefined && need(i)) addGrad(node.inputs[i], g);
    });
  }

  // Gradient outputs.
  const gradName = spec.gradName ?? ((w: string) => `grad_${w}`);
  const outputs: OnnxValueInfo[] = [];
  const outNames = new Set<string>();
  const emitOutput = (v: string, name: string) => {
    if (outNames.has(name)) throw new Error(`autodiff: output name "${name}" used twice`);
    outNames.add(name);
    const t = types.get(v)!;
    let src = v;
    if (v !== name) {
      if (names.has(name)) throw new Error(`autodiff: output name "${name}" is already a value of the graph`);
      names.add(name);
      e.nodes.push({ op: 'Identity', inputs: [v], outputs: [name], name: e.fresh('n_out') });
      src = name;
    }
    outputs.push({ name: src, dtype: t.dtype, shape: t.shape });
  };
  for (const v of spec.keepOutputs ?? []) {
    if (!types.has(v)) throw new Error(`autodiff: keepOutputs value "${v}" is not in the graph`);
    emitOutput(v, v);
  }
  for (const w of spec.wrt) {
    const l = grads.get(w);
    const g = l ? e.sum(l) : e.fill(types.get(w)!.shape, 0);
    emitOutput(g, gradName(w));
  }

  // Prune: keep the forward nodes that the backward nodes and outputs need; folded integers become initializers.
  const needed = new Set<string>();
  for (const n of e.nodes) for (const v of n.inputs) needed.add(v);
  for (const o of outputs) needed.add(o.name);
  const keptFwd: OnnxNode[] = [];
  const folded: OnnxTensor[] = [];
  const foldedNames = new Set<string>();
  for (let i = fwd.length - 1; i >= 0; i--) {
    const n = fwd[i];
    if (!n.outputs.some((o) => o && needed.has(o))) continue;
    if (n.outputs.length === 1 && consts.has(n.outputs[0]) && !initByName.has(n.outputs[0])) {
      folded.push(constTensor(n.outputs[0], consts.get(n.outputs[0])!));
      foldedNames.add(n.outputs[0]);
      continue;
    }
    keptFwd.push(n);
    for (const v of n.inputs) if (v) needed.add(v);
  }
  keptFwd.reverse();
  const inits = graph.initializers.filter((t) => needed.has(t.name));
  return {
    name: `${graph.name}_grad`,
    nodes: [...keptFwd, ...e.nodes],
    initializers: [...inits, ...folded, ...e.inits.filter((t) => needed.has(t.name))],
    inputs: [
      // Every original input stays (unused ones too), so one feed works for any spec.
      ...graph.inputs.map((v) => ({ ...v, shape: types.get(v.name)!.shape })),
      ...extraInputs,
    ],
    outputs,
  };
}

/** gradientGraph as a model at GRAD_OPSET. */
export function gradientModel(graph: OnnxGraph, spec: GradientSpec, meta: { docString?: string; metadata?: Record<string, string> } = {}): OnnxModel {
  const g = gradientGraph(graph, spec);
  const domains = new Set(g.nodes.map((n) => n.domain ?? '').filter((d) => d !== ''));
  return { graph: g, opset: GRAD_OPSET, extraOpsets: [...domains].map((domain) => ({ domain, version: 1 })), ...meta };
}
