import * as tf from '@tensorflow/tfjs';
import { initBackend } from './backend';
import { NO_ADAPTER_MESSAGE, tryWebGPU, webgpuFailure } from './backend-webgpu';

// These machines (developers', CI) have no GPU: the webgpu path must decline quietly, the automatic
// choice must fall through to wasm, and a forced webgpu must fail with one clear line.
describe('webgpu backend without a GPU', () => {
  it('tryWebGPU returns false and reports the missing adapter', async () => {
    expect(await tryWebGPU()).toBe(false);
    expect(webgpuFailure()).toBe(NO_ADAPTER_MESSAGE);
    expect(tf.findBackendFactory('webgpu')).toBeNull();
  });

  it('automatic selection skips webgpu and lands on wasm', async () => {
    expect(await initBackend()).toBe('wasm');
    expect(tf.getBackend()).toBe('wasm');
  });

  it('forcing webgpu throws the one-line error and keeps the current backend', async () => {
    await expect(initBackend('webgpu')).rejects.toThrow(NO_ADAPTER_MESSAGE);
    expect(NO_ADAPTER_MESSAGE).not.toContain('\n');
    expect(tf.getBackend()).toBe('wasm');
  });
});

// Dawn's null backend hands out an adapter without a GPU: it proves the globals and the tfjs
// registration work here (kernels are validated and dispatched but compute nothing).
function dawnInstalled(): boolean {
  try {
    require.resolve('webgpu/package.json');
    return true;
  } catch {
    return false; // optional dependency left out (e.g. pnpm install --no-optional)
  }
}

describe('webgpu backend on Dawn null adapter', () => {
  (dawnInstalled() ? it : it.skip)('registers tfjs webgpu and runs a forward and gradient pass', async () => {
    expect(await tryWebGPU(['backend=null'])).toBe(true);
    expect(tf.findBackendFactory('webgpu')).not.toBeNull();
    expect(await tf.setBackend('webgpu')).toBe(true);
    const x = tf.ones([4, 8]);
    const y = tf.grad((v: tf.Tensor) => tf.erf(tf.matMul(v, v, false, true)).sum())(x);
    expect(y.shape).toEqual([4, 8]);
    expect((await y.data()).length).toBe(32);
    tf.dispose([x, y]);
  });

  (dawnInstalled() ? it : it.skip)('sums more tensors than the storage-buffer limit without a validation error', async () => {
    expect(tf.getBackend()).toBe('webgpu');
    const device = (tf.backend() as unknown as { device: GPUDeviceLike }).device;
    expect(device.limits.maxStorageBuffersPerShaderStage).toBe(8); // WebGPU's default, as tfjs leaves it
    const xs = Array.from({ length: 20 }, (_, i) => tf.fill([64], i));
    device.pushErrorScope('validation');
    const y = tf.addN(xs);
    await y.data(); // submits the queued work
    const err = await device.popErrorScope();
    expect(err?.message ?? null).toBeNull();
    expect(y.shape).toEqual([64]);
    tf.dispose([y, ...xs]);
  });
});

interface GPUDeviceLike {
  limits: { maxStorageBuffersPerShaderStage: number };
  pushErrorScope(filter: string): void;
  popErrorScope(): Promise<{ message: string } | null>;
}
