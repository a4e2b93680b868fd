import { OnnxGraph, OnnxModel, OnnxNode, OnnxValueInfo, inferShapes } from '@richhf/reward/onnx';

/*
 * A gradient graph (the reward package's autodiff: forward and backward in one graph, the upstream gradient a
 * "seed" input) cut in two at the seed, so a caller can run the forward, use its output to compute the
 * upstream gradient, and only then run the backward — without running the forward a second time, which is
 * what a one-piece VJP graph costs after a separate decode (a third of TAESD's decode-and-gradient work).
 *
 *   forward:  the graph inputs other than the seeds → the kept outputs + every value the backward reads
 *             (`saved`: for a ReLU network the bool masks of the Greater(y, 0) nodes, since whatever does not
 *             depend on the seed runs on the forward side — TAESD at 256² saves 25 MB of masks, not its
 *             activations);
 *   backward: the seeds + `saved` (+ any graph input it reads) → the gradient outputs.
 * Nodes that depend on no input at all (constant folding material) are copied to each side that reads them.
 */

export interface SplitVjp {
  forward: OnnxModel;
  backward: OnnxModel;
  /** Values the forward outputs for the backward (in the backward's input order, after the seeds). */
  saved: string[];
  /** Graph inputs the backward reads directly (fed again by the caller). */
  reusedInputs: string[];
}

/**
 * Split `model` at its `seeds` inputs. `inputShapes` are the static shapes of every input (as gradientModel
 * took them); `keep` are the forward outputs to keep (the rest of the graph's outputs must depend on a seed).
 */
export function splitVjp(model: OnnxModel, seeds: string[], inputShapes: Record<string, number[]>, keep: string[]): SplitVjp {
  const g = model.graph;
  const seedSet = new Set(seeds);
  for (const s of seeds) if (!g.inputs.some((v) => v.name === s)) throw new Error(`splitVjp: "${s}" is not an input of ${g.name}`);
  const inputNames = new Set(g.inputs.map((v) => v.name));
  // Values downstream of a seed, and of any graph input (nodes in topological order, as the builders write them).
  const fromSeed = new Set(seeds);
  const fromInput = new Set(inputNames);
  const side: ('fwd' | 'bwd' | 'const')[] = g.nodes.map((n) => {
    const ins = n.inputs.filter((i) => i !== '');
    const s = ins.some((i) => fromSeed.has(i)) ? 'bwd' : ins.some((i) => fromInput.has(i)) ? 'fwd' : 'const';
    if (s === 'bwd') n.outputs.forEach((o) => fromSeed.add(o));
    if (s !== 'const') n.outputs.forEach((o) => fromInput.add(o));
    return s;
  });
  const producer = new Map<string, number>();
  g.nodes.forEach((n, i) => n.outputs.forEach((o) => producer.set(o, i)));

  const outputs = new Map(g.outputs.map((v) => [v.name, v]));
  for (const k of keep) if (!outputs.has(k) || fromSeed.has(k)) throw new Error(`splitVjp: "${k}" is not a forward output of ${g.name}`);
  const gradOutputs = g.outputs.filter((v) => !keep.includes(v.name));
  for (const v of gradOutputs) if (!fromSeed.has(v.name)) throw new Error(`splitVjp: output "${v.name}" of ${g.name} does not depend on the seeds`);

  // Constant nodes each side needs, walking back from what it consumes.
  const closure = (roots: Iterable<string>, allowed: (i: number) => boolean): Set<number> => {
    const seen = new Set<number>();
    const stack = [...roots];
    while (stack.length) {
      const i = producer.get(stack.pop()!);
      if (i === undefined || seen.has(i) || !allowed(i)) continue;
      seen.add(i);
      stack.push(...g.nodes[i].inputs.filter((x) => x !== ''));
    }
    return seen;
  };
  const bwdIdx = new Set(side.flatMap((s, i) => (s === 'bwd' ? [i] : [])));
  const bwdReads = new Set<string>();
  for (const i of bwdIdx) for (const x of g.nodes[i].inputs) if (x !== '' && !fromSeed.has(x)) bwdReads.add(x);
  const bwdConst = closure(bwdReads, (i) => side[i] === 'const');
  const crossing = [...bwdReads].filter((x) => fromInput.has(x) && !seedSet.has(x));
  const saved = crossing.filter((x) => !inputNames.has(x));
  const reusedInputs = crossing.filter((x) => inputNames.has(x));
  const fwdIdx = closure([...keep, ...saved], (i) => side[i] !== 'bwd');

  const types = inferShapes(g, inputShapes).types;
  const info = (name: string): OnnxValueInfo => {
    const t = types.get(name);
    if (!t) throw new Error(`splitVjp: no type inferred for "${name}"`);
    return { name, dtype: t.dtype, shape: [...t.shape] };
  };
  const part = (name: string, idx: Set<number>, inputs: OnnxValueInfo[], outs: OnnxValueInfo[]): OnnxModel => {
    const nodes: OnnxNode[] = g.nodes.filter((_, i) => idx.has(i));
    const used = new Set(nodes.flatMap((n) => n.inputs));
    const graph: OnnxGraph = { name, nodes, initializers: g.initializers.filter((t) => used.has(t.name)), inputs, outputs: outs };
    return { ...model, graph };
  };
  const inputsOf = (names: string[]) => g.inputs.filter((v) => names.includes(v.name));
  const forward = part(
    `${g.name}_forward`,
    fwdIdx,
    g.inputs.filter((v) => !seedSet.has(v.name)),
    [...keep.map((k) => outputs.get(k)!), ...saved.filter((x) => !keep.includes(x)).map(info)],
  );
  const backward = part(`${g.name}_backward`, new Set([...bwdIdx, ...bwdConst]), [...inputsOf(seeds), ...saved.map(info), ...inputsOf(reusedInputs)], gradOutputs);
  return { forward, backward, saved, reusedInputs };
}
