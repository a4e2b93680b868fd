import * as tf from '@tensorflow/tfjs';

/** The argument of a tfjs kernel function (inputs, backend, attrs). */
export type KernelArgs = Parameters<tf.KernelFunc>[0];

/**
 * Put `kernelFunc` in front of tfjs-backend-webgpu's own kernel `kernelName`; it receives the original
 * to fall back on. False (and nothing changed) when webgpu has no such kernel.
 */
export function wrapWebGPUKernel(kernelName: string, kernelFunc: (args: KernelArgs, original: tf.KernelFunc) => ReturnType<tf.KernelFunc>): boolean {
  const k = tf.getKernel(kernelName, 'webgpu');
  if (!k) return false;
  const original = k.kernelFunc;
  tf.unregisterKernel(kernelName, 'webgpu');
  tf.registerKernel({ kernelName, backendName: 'webgpu', kernelFunc: (args: KernelArgs) => kernelFunc(args, original) });
  return true;
}
