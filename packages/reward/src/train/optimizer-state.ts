import { HostTensor, TensorMap, sameShape } from '../io/tensors';

/*
 * The optimizer state a checkpoint holds (optimizer.safetensors): Adam's first and second moments of each
 * parameter, named `m.<param>` and `v.<param>`. Written by AdamW.state / HostAdamW.state, read back here
 * for both (the two optimizers share the format, so a run may resume on the other engine).
 */

export interface SavedMoment {
  slot: 'm' | 'v';
  /** The parameter's name. */
  name: string;
  tensor: HostTensor;
}

/** The moments of a saved state, each checked against its parameter's shape; errors name the tensor. */
export function readMoments(state: TensorMap, params: ReadonlyMap<string, { shape: readonly number[] }>): SavedMoment[] {
  const out: SavedMoment[] = [];
  for (const [k, t] of state) {
    const slot = k.startsWith('m.') ? 'm' : k.startsWith('v.') ? 'v' : undefined;
    const name = k.slice(2);
    const p = params.get(name);
    if (!slot || !p) throw new Error(`optimizer state: unexpected tensor "${k}"`);
    if (!sameShape(p.shape, t.shape)) throw new Error(`optimizer state: "${k}" has shape [${t.shape}], parameter has [${p.shape}]`);
    out.push({ slot, name, tensor: t });
  }
  return out;
}
