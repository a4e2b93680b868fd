/**
 * WebGPU backend for Node: Dawn through the optional `webgpu` package (a prebuilt dawn.node), with
 * @tensorflow/tfjs-backend-webgpu on top. Needs a GPU with Vulkan drivers; without one Dawn finds no
 * adapter and we report that instead of failing later inside tfjs.
 *
 * Caveat for callers: on this backend `dataSync()`/`arraySync()` of a GPU-resident tensor throws
 * "OffscreenCanvas is not defined" in Node (tfjs reads synchronously through a canvas), so read
 * results with `await t.data()` / `await t.array()`.
 */
import * as fs from 'fs';
import * as path from 'path';
import * as tf from '@tensorflow/tfjs';
import { registerFusedGelu } from './gpu/gelu';
import { KernelArgs, wrapWebGPUKernel } from './gpu/webgpu-kernel';
import { registerTiledMatMul } from './gpu/matmul';
import { registerFusedNorms } from './gpu/norm';
import { registerFusedSoftmax } from './gpu/softmax';

/** The one-line error for a forced `--backend webgpu` on a machine without an adapter. */
export const NO_ADAPTER_MESSAGE =
  "backend webgpu: no WebGPU adapter found (needs a GPU with Vulkan drivers and the optional 'webgpu' package)";

/** Minimal view of the `webgpu` package (types.d.ts there pulls in @webgpu/types; we need two names). */
interface DawnModule {
  create(options: string[]): GpuLike;
  globals: Record<string, unknown>;
}
interface GpuLike {
  requestAdapter(options?: { powerPreference?: string }): Promise<AdapterLike | null>;
}
interface AdapterLike {
  info?: { vendor?: string; architecture?: string; device?: string; description?: string };
}

let lastFailure: string | undefined;
let adapterDescription: string | undefined;

/**
 * Why webgpu is unavailable after the last `tryWebGPU()`: {@link NO_ADAPTER_MESSAGE} or
 * `backend webgpu: <reason>` (also when it returned true but `tf.setBackend('webgpu')` then failed).
 */
export function webgpuFailure(): string {
  return lastFailure ?? NO_ADAPTER_MESSAGE;
}

/** Vendor/architecture/device of the adapter found by the last successful `tryWebGPU()`. */
export function webgpuAdapterDescription(): string | undefined {
  return adapterDescription;
}

/**
 * Dawn options for `create()`, from `RAHF_DAWN_OPTIONS` (whitespace-separated, e.g. `backend=null`
 * to exercise the code path without a GPU: it yields an adapter whose kernels compute nothing).
 */
export function dawnOptionsFromEnv(): string[] {
  return (process.env.RAHF_DAWN_OPTIONS ?? '').split(/\s+/).filter(Boolean);
}

/**
 * On Linux Dawn needs the Vulkan loader (libvulkan.so.1); without it, loading dawn.node only prints a
 * warning and finds nothing. Looking in the linker cache and LD_LIBRARY_PATH first keeps CPU-only
 * machines from loading the 20 MB addon and from that stderr noise on every run.
 */
export function vulkanLoaderPresent(): boolean {
  if (process.platform !== 'linux') return true; // Metal / D3D elsewhere
  const name = 'libvulkan.so.1';
  for (const dir of (process.env.LD_LIBRARY_PATH ?? '').split(':').filter(Boolean)) {
    if (fs.existsSync(path.join(dir, name))) return true;
  }
  try {
    return fs.readFileSync('/etc/ld.so.cache').includes(name);
  } catch {
    return false;
  }
}

function loadDawn(): DawnModule | undefined {
  try {
    // `webgpu` is an ES module; Node ≥ 20.19 loads it through require(). Optional dependency.
    // eslint-disable-next-line @typescript-eslint/no-require-imports
    const mod = require('webgpu') as Partial<DawnModule> & { default?: DawnModule };
    const dawn = typeof mod.create === 'function' ? (mod as DawnModule) : mod.default;
    if (dawn && typeof dawn.create === 'function') return dawn;
  } catch {
    // absent, or a loader that cannot require() ES modules (older Node, jest): try the addon itself
  }
  try {
    // The package's index.js only picks dist/<platform>-<arch>/dawn.node and patches
    // GPUDevice.destroy() to unmap buffers, which we never call.
    const root = path.dirname(require.resolve('webgpu/package.json'));
    const arch = process.platform === 'darwin' ? 'universal' : process.arch;
    // eslint-disable-next-line @typescript-eslint/no-require-imports
    const dawn = require(path.join(root, 'dist', `${process.platform}-${arch}`, 'dawn.node')) as DawnModule;
    return typeof dawn.create === 'function' ? dawn : undefined;
  } catch {
    return undefined;
  }
}

/** Install `navigator.gpu` (Node 20 has no navigator; Node ≥ 21 has one without `gpu`). */
function installNavigatorGpu(gpu: GpuLike): void {
  const g = globalThis as { navigator?: { gpu?: unknown } };
  if (g.navigator && typeof g.navigator === 'object') {
    if (g.navigator.gpu === gpu) return;
    Object.defineProperty(g.navigator, 'gpu', { value: gpu, configurable: true, writable: true });
  } else {
    Object.defineProperty(globalThis, 'navigator', { value: { gpu }, configurable: true, writable: true });
  }
}

/** `gpu` with every requestAdapter() asking for the given WebGPU feature level (tfjs asks for core). */
function withFeatureLevel(gpu: GpuLike, featureLevel: string): GpuLike {
  const request = gpu.requestAdapter.bind(gpu);
  const wrapped = Object.create(gpu) as GpuLike;
  wrapped.requestAdapter = (options) => request({ ...(options ?? {}), featureLevel } as { powerPreference?: string });
  return wrapped;
}

function describe(adapter: AdapterLike): string | undefined {
  const i = adapter.info;
  if (!i) return undefined;
  const parts = [i.vendor, i.architecture, i.device, i.description].filter((s) => s && String(s).length > 0);
  return parts.length ? parts.join(' / ') : undefined;
}

interface WebGPUBackendLike {
  device?: { limits?: { maxStorageBuffersPerShaderStage?: number } };
  disposeData(dataId: unknown): void;
}

let addNChunked = false;

/**
 * tfjs-backend-webgpu's AddN binds every input as its own storage buffer, and the device it creates
 * keeps WebGPU's default limit of 8 storage buffers per shader stage (tfjs does not request more), so
 * tf.addN of more than 7 tensors fails validation (gradient-norm clipping sums one tensor per
 * parameter). Its Concat already splits its inputs this way; AddN is re-registered to do the same:
 * sums of at most limit − 1 inputs, then sums of those.
 */
function chunkAddN(): void {
  if (!addNChunked) addNChunked = wrapWebGPUKernel('AddN', addNInChunks);
}

function addNInChunks(args: KernelArgs, original: tf.KernelFunc): ReturnType<tf.KernelFunc> {
  const backend = args.backend as unknown as WebGPUBackendLike;
  const max = Math.max(2, (backend.device?.limits?.maxStorageBuffersPerShaderStage ?? 8) - 1);
  let parts = args.inputs as unknown as tf.TensorInfo[];
  if (parts.length <= max) return original(args);
  const partial: tf.TensorInfo[] = [];
  while (parts.length > max) {
    const next: tf.TensorInfo[] = [];
    for (let i = 0; i < parts.length; i += max) {
      const chunk = parts.slice(i, i + max);
      if (chunk.length === 1) {
        next.push(chunk[0]);
        continue;
      }
      const sum = original({ ...args, inputs: chunk as unknown as KernelArgs['inputs'] }) as tf.TensorInfo;
      partial.push(sum);
      next.push(sum);
    }
    parts = next;
  }
  const out = original({ ...args, inputs: parts as unknown as KernelArgs['inputs'] });
  for (const t of partial) backend.disposeData(t.dataId);
  return out;
}

/**
 * tfjs-backend-webgpu flags we set differently from tfjs, chosen by the settings sweep of the GPU
 * check (src/bench/gpu-check/main.ts, docs/measurements/gpu-check-2026-11-26-h200-tiled.json) on an H200.
 * Callers may still override them with tf.env().set() after initBackend. Which matMul / conv programs
 * run is set in src/gpu/matmul.ts (RAHF_WEBGPU_MATMUL, RAHF_WEBGPU_CONV: tiled by default), whether
 * linear layers pass W transposed by flag in src/nn/layers.ts (RAHF_LINEAR_TRANSPOSE).
 */
export const WEBGPU_FLAG_DEFAULTS: Record<string, number | boolean> = {
  // Submit the command encoder every 64 dispatches instead of 15: a scoreGrad at batch 1 is thousands of
  // small dispatches, bound by per-dispatch CPU work; fewer queue submits cut its median from
  // 0.48 s to 0.46 s and the batch-32 forward from 0.175 s to 0.162 s in the sweep (6 was slower).
  WEBGPU_DEFERRED_SUBMIT_BATCH_SIZE: 64,
};

function applyWebGPUFlagDefaults(): void {
  for (const [k, v] of Object.entries(WEBGPU_FLAG_DEFAULTS)) tf.env().set(k, v);
}

/**
 * Make the tfjs 'webgpu' backend available: load Dawn (optional package), set the WebGPU globals as
 * the package's README does, and register tfjs-backend-webgpu only when Dawn reports an adapter.
 * Returns false, never throws, when anything is missing; `webgpuFailure()` then says why. The caller
 * still has to `tf.setBackend('webgpu')`, which creates the device.
 */
export async function tryWebGPU(dawnOptions: string[] = dawnOptionsFromEnv()): Promise<boolean> {
  lastFailure = undefined;
  try {
    // Dawn's null backend (a dry run without a GPU) needs no Vulkan.
    const explicitBackend = dawnOptions.some((o) => o.startsWith('backend='));
    const dawn = explicitBackend || vulkanLoaderPresent() ? loadDawn() : undefined;
    if (!dawn) {
      lastFailure = NO_ADAPTER_MESSAGE;
      return false;
    }
    // GPUBufferUsage, GPUMapMode, GPUShaderStage… are read as globals by tfjs-backend-webgpu.
    for (const [k, v] of Object.entries(dawn.globals)) {
      if (!(k in globalThis)) (globalThis as Record<string, unknown>)[k] = v;
    }
    let gpu = dawn.create(dawnOptions);
    // Dev aid: RAHF_WEBGPU_FEATURE_LEVEL=compatibility with RAHF_DAWN_OPTIONS=backend=opengles runs the
    // real kernels on Dawn's OpenGL ES backend (e.g. Mesa's llvmpipe, EGL_PLATFORM=surfaceless): slow,
    // but it checks WGSL on a machine without a GPU. Dawn offers GL adapters in compatibility mode only.
    const featureLevel = process.env.RAHF_WEBGPU_FEATURE_LEVEL?.trim();
    if (featureLevel) gpu = withFeatureLevel(gpu, featureLevel);
    const adapter = await gpu.requestAdapter({ powerPreference: 'high-performance' });
    if (!adapter) {
      lastFailure = NO_ADAPTER_MESSAGE;
      return false;
    }
    adapterDescription = describe(adapter);
    // The backend registers itself on import, but only if navigator.gpu is set by then.
    installNavigatorGpu(gpu);
    // eslint-disable-next-line @typescript-eslint/no-require-imports
    require('@tensorflow/tfjs-backend-webgpu');
    chunkAddN();
    registerTiledMatMul();
    // Fused LayerNorm / RMS norm / GELU / attention-softmax kernels, used only with RAHF_WEBGPU_FUSED=on
    // (see src/gpu/norm.ts for why not by default); RAHF_WEBGPU_FUSED_SOFTMAX=off then keeps tfjs's softmax.
    registerFusedNorms();
    registerFusedGelu();
    registerFusedSoftmax();
    applyWebGPUFlagDefaults();
    if (!tf.findBackendFactory('webgpu')) {
      lastFailure = 'backend webgpu: @tensorflow/tfjs-backend-webgpu was loaded before navigator.gpu existed';
      return false;
    }
    // Only read if the caller's tf.setBackend('webgpu') fails (tfjs logs the cause as a warning).
    lastFailure = `backend webgpu: adapter ${adapterDescription ?? '(unnamed)'} found but tfjs could not create a device`;
    return true;
  } catch (e) {
    lastFailure = `backend webgpu: ${(e as Error).message.split('\n')[0]}`;
    return false;
  }
}
