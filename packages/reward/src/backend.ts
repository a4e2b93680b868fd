import * as path from 'path';
import * as tf from '@tensorflow/tfjs';
import { tryWebGPU, webgpuFailure } from './backend-webgpu';

/** Backends we know how to bring up, best first. */
export type BackendName = 'tensorflow' | 'webgpu' | 'wasm' | 'cpu';

let chosen: BackendName | undefined;
let logged = false;
/** Whether the 'tensorflow' backend came from tfjs-node-gpu (CUDA) rather than tfjs-node. */
let nodeGpu = false;

function tryRequire(id: string): boolean {
  try {
    // eslint-disable-next-line @typescript-eslint/no-require-imports
    require(id);
    return true;
  } catch {
    return false;
  }
}

async function activate(name: BackendName): Promise<boolean> {
  switch (name) {
    case 'tensorflow':
      // tfjs-node(-gpu) register the 'tensorflow' backend on import; both are optional peers.
      nodeGpu = tryRequire('@tensorflow/tfjs-node-gpu');
      if (!nodeGpu && !tryRequire('@tensorflow/tfjs-node')) return false;
      break;
    case 'wasm':
      if (!tryRequire('@tensorflow/tfjs-backend-wasm')) return false;
      break;
    case 'webgpu':
      // Dawn via the optional `webgpu` package; false when it is absent or finds no adapter.
      if (!(await tryWebGPU())) return false;
      break;
    case 'cpu':
      break;
  }
  try {
    return await tf.setBackend(name);
  } catch {
    return false;
  }
}

/**
 * Select the tfjs backend once per process: explicit `name`, else `RAHF_BACKEND`, else the best one
 * installed (tfjs-node-gpu / tfjs-node → webgpu when Dawn finds an adapter → wasm → cpu). Logs the
 * choice once on stderr.
 */
export async function initBackend(name?: string, opts: { quiet?: boolean } = {}): Promise<BackendName> {
  const wanted = (name ?? process.env.RAHF_BACKEND ?? '').trim() || undefined;
  if (chosen && (!wanted || wanted === chosen)) return chosen;
  const order: BackendName[] = wanted ? [wanted as BackendName] : ['tensorflow', 'webgpu', 'wasm', 'cpu'];
  for (const b of order) {
    if (!['tensorflow', 'webgpu', 'wasm', 'cpu'].includes(b)) {
      throw new Error(`unknown backend "${b}" (expected tensorflow, webgpu, wasm or cpu)`);
    }
    if (await activate(b)) {
      chosen = b;
      await tf.ready();
      if (!logged && !opts.quiet && !process.env.JEST_WORKER_ID) {
        process.stderr.write(`rahf: tfjs backend ${b}\n`);
      }
      logged = true;
      return b;
    }
    if (wanted) throw new Error(b === 'webgpu' ? webgpuFailure() : `backend "${b}" is not available on this machine`);
  }
  throw new Error('no tfjs backend could be initialised');
}

export function currentBackend(): BackendName | undefined {
  return chosen;
}

/**
 * Whether the active tfjs backend computes on a GPU (webgpu, or tfjs-node-gpu's 'tensorflow'): the case
 * where tfjs, not onnxruntime-node on the CPU, is the faster engine. Reads the active backend without
 * initialising one (none active: false).
 */
export function isGpuBackend(): boolean {
  const name = chosen ?? tf.getBackend();
  if (name === 'webgpu') return true;
  if (name !== 'tensorflow') return false;
  return nodeGpu || Object.keys(require.cache).some((k) => k.includes(`${path.sep}tfjs-node-gpu${path.sep}`));
}
