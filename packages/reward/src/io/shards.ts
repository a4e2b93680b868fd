import * as fs from 'fs';
import * as path from 'path';
import { TensorMap } from './tensors';
import { UserError } from '../errors';
import { readRegularText } from './files';

/**
 * Reads a sharded checkpoint from its index file (`{weight_map: {tensor: shard}}`, HF's
 * `model.safetensors.index.json` / `pytorch_model.bin.index.json`), each shard with `readShard`. Each
 * shard is read once; every tensor the index names must be in its shard, and a tensor may not appear in
 * two shards.
 */
export function readSharded(indexFile: string, readShard: (file: string) => TensorMap): TensorMap {
  const weightMap = readWeightMap(indexFile);
  const out: TensorMap = new Map();
  const dir = path.dirname(indexFile);
  for (const [shard, names] of groupByShard(indexFile, weightMap)) {
    const shardPath = path.join(dir, shard);
    if (!fs.existsSync(shardPath)) {
      throw new UserError(`${indexFile}: shard '${shard}' (holding '${names[0]}') not found at ${shardPath}`);
    }
    const tensors = readShard(shardPath);
    for (const name of names) {
      if (!tensors.has(name)) throw new UserError(`${indexFile}: tensor '${name}' is mapped to shard '${shard}' but is not in it`);
    }
    for (const [name, t] of tensors) {
      if (out.has(name)) throw new UserError(`${indexFile}: tensor '${name}' appears in more than one shard (again in '${shard}')`);
      out.set(name, t);
    }
  }
  return out;
}

/** Parses the `weight_map` of a (safetensors or torch) shard index file. */
export function readWeightMap(indexFile: string): Record<string, string> {
  const text = readRegularText(indexFile, 'shard index');
  let json: unknown;
  try {
    json = JSON.parse(text);
  } catch (e) {
    throw new UserError(`${indexFile}: cannot read shard index (${(e as Error).message.split('\n')[0]})`);
  }
  const wm = (json as { weight_map?: unknown } | null)?.weight_map;
  if (wm === null || typeof wm !== 'object' || Array.isArray(wm)) throw new UserError(`${indexFile}: shard index has no weight_map object`);
  for (const [k, v] of Object.entries(wm as Record<string, unknown>)) {
    if (typeof v !== 'string') throw new UserError(`${indexFile}: weight_map entry for '${k}' is not a file name`);
  }
  return wm as Record<string, string>;
}

/** weight_map → shard file → tensor names, in first-seen order; shard names must stay inside the directory. */
export function groupByShard(indexFile: string, weightMap: Record<string, string>): Map<string, string[]> {
  const byShard = new Map<string, string[]>();
  for (const [name, shard] of Object.entries(weightMap)) {
    const norm = path.normalize(shard);
    if (path.isAbsolute(norm) || norm.split(path.sep).includes('..')) {
      throw new UserError(`${indexFile}: shard path '${shard}' points outside the checkpoint directory`);
    }
    const list = byShard.get(shard);
    if (list) list.push(name);
    else byShard.set(shard, [name]);
  }
  if (byShard.size === 0) throw new UserError(`${indexFile}: weight_map is empty`);
  return byShard;
}
