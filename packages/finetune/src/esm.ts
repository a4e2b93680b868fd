/**
 * hyparquet and hyparquet-writer are ESM-only. Node ≥ 20.19 loads them with a plain require(); Jest's module
 * loader cannot (it parses node_modules as CommonJS), so there we fall back to Node's own loader — the same
 * move as @richhf/reward's parquet join.
 */
const cache = new Map<string, unknown>();

export function requireEsm<T>(id: string): T {
  if (cache.has(id)) return cache.get(id) as T;
  let mod: T;
  try {
    // eslint-disable-next-line @typescript-eslint/no-require-imports
    mod = require(id) as T;
  } catch (e) {
    const getBuiltin = (process as { getBuiltinModule?: (id: string) => unknown }).getBuiltinModule;
    if (typeof getBuiltin !== 'function') throw new Error(`cannot load ${id} (ESM-only; needs Node >= 20.19): ${(e as Error).message}`);
    const nodeModule = getBuiltin('module') as typeof import('module');
    mod = nodeModule.createRequire(__filename)(id) as T;
  }
  cache.set(id, mod);
  return mod;
}

export type Hyparquet = typeof import('hyparquet');
// Node resolves the package's `default` export condition (src/node.js), which adds fileWriter to the
// browser entry that TypeScript's node10 resolution types.
export type HyparquetWriter = typeof import('hyparquet-writer') & { fileWriter(filename: string): import('hyparquet-writer').Writer };
export const hyparquet = () => requireEsm<Hyparquet>('hyparquet');
export const hyparquetWriter = () => requireEsm<HyparquetWriter>('hyparquet-writer');
