/**
 * Fused attention softmax for tfjs-backend-webgpu: softmax(s·scale + bias) over the last axis in one
 * dispatch, and its input gradient scale·y·(dy − Σ dy·y) in one, where the composed form (scale, add
 * bias, softmax; softmax's gradient alone is 4 kernels) takes about 8. See src/gpu/norm.ts for why
 * the kernel count matters at batch 1. The bias (T5's relative positions, padding masks) broadcasts to
 * the scores' shape through tfjs's generated accessor; its gradient (training only) is the unscaled
 * gradient summed over the broadcast axes, composed of ops.
 *
 * Registered only on webgpu by src/backend-webgpu.ts; taken only there (see {@link fusedSoftmaxActive}).
 */
import * as tf from '@tensorflow/tfjs';
import { fusedOpsEnabled } from './norm';

type KernelArgs = Parameters<tf.KernelFunc>[0];
type TensorInfo = tf.TensorInfo;

interface WebGPUBackendLike {
  runWebGPUProgram(program: unknown, inputs: TensorInfo[], dtype: tf.DataType, uniforms?: { type: string; data: number[] }[]): TensorInfo;
}

export const SCALED_SOFTMAX = 'RahfScaledSoftmax';
const SCALED_SOFTMAX_GRAD = 'RahfScaledSoftmaxGrad';
const WG = 64;
const MAX_GROUPS = 65535;

let enabled = process.env.RAHF_WEBGPU_FUSED_SOFTMAX !== 'off';

/** The fused softmax has its own switch (the GPU check times it separately); it also needs the fused ops on. */
export function setFusedSoftmax(on: boolean): void {
  enabled = on;
}
export function fusedSoftmaxEnabled(): boolean {
  return enabled;
}

export function fusedSoftmaxActive(s: tf.Tensor, bias?: tf.Tensor): boolean {
  if (!enabled || !fusedOpsEnabled() || tf.getBackend() !== 'webgpu' || !tf.getKernel(SCALED_SOFTMAX, 'webgpu')) return false;
  if (s.dtype !== 'float32' || s.rank < 1) return false;
  if (!bias) return true;
  if (bias.dtype !== 'float32' || bias.rank > s.rank) return false;
  try {
    return tf.util.arraysEqual(tf.backend_util.assertAndGetBroadcastShape(s.shape, bias.shape), s.shape);
  } catch {
    return false;
  }
}

/** The WGSL body: one workgroup per row (rows beyond the last, from the 2-D dispatch, write nothing). */
export function softmaxSource(grad: boolean, bias: boolean): string {
  const L: string[] = [];
  for (const [i, op] of [
    [0, 'max'],
    [1, 'add'],
  ] as const) {
    L.push(
      `var<workgroup> red${i}: array<f32, ${WG}>;`,
      `fn wgReduce${i}(v: f32) -> f32 {`,
      `  let t = localIndex;`,
      `  red${i}[t] = v;`,
      `  workgroupBarrier();`,
      `  for (var s = ${WG / 2}u; s > 0u; s = s >> 1u) {`,
      `    if (t < s) { red${i}[t] = ${op === 'max' ? `max(red${i}[t], red${i}[t + s])` : `red${i}[t] + red${i}[t + s]`}; }`,
      `    workgroupBarrier();`,
      `  }`,
      `  return red${i}[0];`,
      `}`,
    );
  }
  L.push(
    `fn main(index: i32) {`,
    `  let n = uniforms.N;`,
    `  let rowRaw = i32(workgroupId.x + workgroupId.y * numWorkgroups.x);`,
    `  let valid = rowRaw < uniforms.rows;`,
    `  let base = min(rowRaw, uniforms.rows - 1) * n;`,
    `  let t0 = i32(localIndex);`,
  );
  if (!grad) {
    const logit = (c: string) => `S[base + ${c}] * uniforms.scale${bias ? ` + getBiasByOutputIndex(base + ${c})` : ''}`;
    L.push(
      `  var m = -3.402823e+38;`,
      `  for (var c = t0; c < n; c += ${WG}) { m = max(m, ${logit('c')}); }`,
      `  let rowMax = wgReduce0(m);`,
      `  var z = 0.0;`,
      `  for (var c = t0; c < n; c += ${WG}) { z += exp(${logit('c')} - rowMax); }`,
      `  let total = wgReduce1(z);`,
      `  if (valid) {`,
      `    for (var c = t0; c < n; c += ${WG}) { result[base + c] = exp(${logit('c')} - rowMax) / total; }`,
      `  }`,
    );
  } else {
    L.push(
      `  var q = 0.0;`,
      `  for (var c = t0; c < n; c += ${WG}) { q += Dy[base + c] * Y[base + c]; }`,
      `  let dot = wgReduce1(q);`,
      `  if (valid) {`,
      `    for (var c = t0; c < n; c += ${WG}) { result[base + c] = uniforms.scale * Y[base + c] * (Dy[base + c] - dot); }`,
      `  }`,
    );
  }
  L.push(`}`);
  return L.join('\n');
}

class SoftmaxProgram {
  variableNames: string[];
  uniforms = 'N : i32, rows : i32, scale : f32,';
  outputShape: number[];
  dispatchLayout: { x: number[] };
  dispatch: [number, number, number];
  workgroupSize: [number, number, number] = [WG, 1, 1];
  shaderKey: string;
  private grad: boolean;
  private bias: boolean;

  constructor(shape: number[], rows: number, grad: boolean, bias: boolean) {
    this.grad = grad;
    this.bias = bias;
    this.variableNames = grad ? ['Dy', 'Y'] : bias ? ['S', 'Bias'] : ['S'];
    this.outputShape = shape;
    this.dispatchLayout = { x: shape.map((_, i) => i) };
    const x = Math.min(rows, MAX_GROUPS);
    this.dispatch = [x, Math.ceil(rows / x), 1];
    this.shaderKey = `rahfSoftmax_${grad ? 'grad' : 'fwd'}_${bias}`;
  }

  getUserCode(): string {
    return softmaxSource(this.grad, this.bias);
  }
}

function run(args: KernelArgs, grad: boolean): TensorInfo {
  const backend = args.backend as unknown as WebGPUBackendLike;
  const inputs = args.inputs as unknown as Record<string, TensorInfo>;
  const ref = grad ? inputs.y : inputs.s;
  const n = ref.shape[ref.shape.length - 1];
  const rows = Math.max(1, tf.util.sizeFromShape(ref.shape) / Math.max(n, 1));
  const { scale } = args.attrs as unknown as { scale: number };
  const bias = !grad && inputs.bias !== undefined;
  const ins = grad ? [inputs.dy, inputs.y] : bias ? [inputs.s, inputs.bias] : [inputs.s];
  return backend.runWebGPUProgram(new SoftmaxProgram(ref.shape, rows, grad, bias), ins, 'float32', [
    { type: 'int32', data: [n] },
    { type: 'int32', data: [rows] },
    { type: 'float32', data: [scale] },
  ]);
}

let registered = false;

/** Register the fused softmax on webgpu and its gradient (idempotent). */
export function registerFusedSoftmax(): void {
  if (registered || !tf.findBackendFactory('webgpu')) return;
  tf.registerKernel({ kernelName: SCALED_SOFTMAX, backendName: 'webgpu', kernelFunc: (a: KernelArgs) => run(a, false) });
  tf.registerKernel({ kernelName: SCALED_SOFTMAX_GRAD, backendName: 'webgpu', kernelFunc: (a: KernelArgs) => run(a, true) });
  tf.registerGradient({
    kernelName: SCALED_SOFTMAX,
    outputsToSave: [true],
    gradFunc: (dy: tf.Tensor | tf.Tensor[], saved: tf.Tensor[], attrs: tf.NamedAttrMap) => {
      const g = dy as tf.Tensor;
      const [y] = saved;
      const scale = attrs.scale as number;
      const ds = (k: number) => tf.engine().runKernel(SCALED_SOFTMAX_GRAD, { dy: g, y } as unknown as tf.NamedTensorMap, { scale: k }) as tf.Tensor;
      return {
        s: () => ds(scale),
        bias: () => {
          const shape = attrs.biasShape as number[];
          const axes = tf.backend_util.getReductionAxes(shape, y.shape);
          const full = ds(1);
          return (axes.length ? tf.sum(full, axes) : full).reshape(shape);
        },
      };
    },
  });
  registered = true;
}

/** softmax(s·scale + bias) over the last axis, fused (call only where {@link fusedSoftmaxActive} holds). */
export function fusedScaledSoftmax(s: tf.Tensor, scale: number, bias?: tf.Tensor): tf.Tensor {
  const inputs = (bias ? { s, bias } : { s }) as unknown as tf.NamedTensorMap;
  return tf.engine().runKernel(SCALED_SOFTMAX, inputs, { scale, biasShape: bias ? [...bias.shape] : [] }) as tf.Tensor;
}
