/**
 * Fused exact GELU, x·½(1 + erf(x/√2)), for tfjs-backend-webgpu: one dispatch forward and one for the
 * input gradient, where the composed form (src/nn/layers.ts gelu) is 5 kernels forward and about 10
 * backward (see src/gpu/norm.ts for why kernel count matters at batch 1). erf uses the same
 * Abramowitz–Stegun 7.1.26 approximation as tfjs's Erf kernel; the gradient, like tfjs's Erf
 * gradient, differentiates the exact function: ½(1 + erf(x/√2)) + x·exp(−x²/2)/√(2π).
 *
 * Registered only on webgpu by src/backend-webgpu.ts; taken only there (see {@link fusedGeluActive}).
 */
import * as tf from '@tensorflow/tfjs';
import { fusedOpsEnabled } from './norm';

type KernelArgs = Parameters<tf.KernelFunc>[0];
type TensorInfo = tf.TensorInfo;

interface WebGPUBackendLike {
  runWebGPUProgram(program: unknown, inputs: TensorInfo[], dtype: tf.DataType): TensorInfo;
}

export const GELU = 'RahfGelu';
const GELU_GRAD = 'RahfGeluGrad';
const WG = 256;
const MAX_GROUPS = 65535;

export function fusedGeluActive(x: tf.Tensor): boolean {
  return fusedOpsEnabled() && x.dtype === 'float32' && tf.getBackend() === 'webgpu' && !!tf.getKernel(GELU, 'webgpu');
}

/** The WGSL body of the forward (y) or backward (dx from dy) program. */
export function geluSource(grad: boolean): string {
  const b = tf.backend_util;
  return [
    `fn erfAS(a: f32) -> f32 {`,
    `  let t = 1.0 / (1.0 + ${b.ERF_P} * abs(a));`,
    `  return sign(a) * (1.0 - (((((${b.ERF_A5} * t + ${b.ERF_A4}) * t) + ${b.ERF_A3}) * t + ${b.ERF_A2}) * t + ${b.ERF_A1}) * t * exp(-a * a));`,
    `}`,
    `fn main(index: i32) {`,
    `  if (index < uniforms.size) {`,
    `    let x = X[index];`,
    `    let cdf = 0.5 * (1.0 + erfAS(x * ${Math.SQRT1_2}));`,
    grad
      ? `    result[index] = Dy[index] * (cdf + x * exp(-0.5 * x * x) * ${1 / Math.sqrt(2 * Math.PI)});`
      : `    result[index] = x * cdf;`,
    `  }`,
    `}`,
  ].join('\n');
}

class GeluProgram {
  variableNames: string[];
  outputShape: number[];
  dispatchLayout: { x: number[] };
  dispatch: [number, number, number];
  workgroupSize: [number, number, number] = [WG, 1, 1];
  size = true;
  shaderKey: string;
  private grad: boolean;

  constructor(shape: number[], grad: boolean) {
    this.grad = grad;
    this.variableNames = grad ? ['Dy', 'X'] : ['X'];
    this.outputShape = shape;
    this.dispatchLayout = { x: shape.map((_, i) => i) };
    // Large tensors spill into y (tfjs's getGlobalIndex then counts workgroups across x and y).
    const groups = Math.max(1, Math.ceil(tf.util.sizeFromShape(shape) / WG));
    const x = Math.min(groups, MAX_GROUPS);
    this.dispatch = [x, Math.ceil(groups / x), 1];
    this.shaderKey = `rahfGelu_${grad ? 'grad' : 'fwd'}`;
  }

  getUserCode(): string {
    return geluSource(this.grad);
  }
}

let registered = false;

/** Register the fused GELU on webgpu and its gradient (idempotent). */
export function registerFusedGelu(): void {
  if (registered || !tf.findBackendFactory('webgpu')) return;
  tf.registerKernel({
    kernelName: GELU,
    backendName: 'webgpu',
    kernelFunc: (a: KernelArgs) => {
      const { x } = a.inputs as unknown as { x: TensorInfo };
      return (a.backend as unknown as WebGPUBackendLike).runWebGPUProgram(new GeluProgram(x.shape, false), [x], 'float32');
    },
  });
  tf.registerKernel({
    kernelName: GELU_GRAD,
    backendName: 'webgpu',
    kernelFunc: (a: KernelArgs) => {
      const { dy, x } = a.inputs as unknown as { dy: TensorInfo; x: TensorInfo };
      return (a.backend as unknown as WebGPUBackendLike).runWebGPUProgram(new GeluProgram(x.shape, true), [dy, x], 'float32');
    },
  });
  tf.registerGradient({
    kernelName: GELU,
    inputsToSave: ['x'],
    gradFunc: (dy: tf.Tensor | tf.Tensor[], saved: tf.Tensor[]) => ({
      x: () => tf.engine().runKernel(GELU_GRAD, { dy: dy as tf.Tensor, x: saved[0] } as unknown as tf.NamedTensorMap, {}) as tf.Tensor,
    }),
  });
  registered = true;
}

/** Exact GELU, fused (call only where {@link fusedGeluActive} holds). */
export function fusedGelu(x: tf.Tensor): tf.Tensor {
  return tf.engine().runKernel(GELU, { x } as unknown as tf.NamedTensorMap, {}) as tf.Tensor;
}
