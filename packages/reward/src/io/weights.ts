import * as fs from 'fs';
import * as path from 'path';
import { TensorMap } from './tensors';
import { groupByShard, readSafetensors, readShardedSafetensors, readWeightMap } from './safetensors';
import { readTorchCheckpoint } from './torch-pickle';

const TORCH_EXT = ['.pt', '.pth', '.bin', '.ckpt'];

/**
 * Loads the weights of a model directory, in the order Hugging Face prefers them: model.safetensors,
 * model.safetensors.index.json (sharded), pytorch_model.bin, pytorch_model.bin.index.json (sharded
 * torch), then a single *.pt / *.pth (torch zip). Several candidate .pt/.pth files are ambiguous and
 * an error. A path to a file is loaded as `loadWeightsFile`.
 */
export function loadWeights(dir: string): TensorMap {
  if (!fs.existsSync(dir)) throw new Error(`${dir}: no such file or directory`);
  if (!fs.statSync(dir).isDirectory()) return loadWeightsFile(dir);
  for (const name of ['model.safetensors', 'model.safetensors.index.json', 'pytorch_model.bin', 'pytorch_model.bin.index.json']) {
    const f = path.join(dir, name);
    if (fs.existsSync(f)) return loadWeightsFile(f);
  }
  const torch = fs
    .readdirSync(dir)
    .filter((f) => f.endsWith('.pt') || f.endsWith('.pth'))
    .sort();
  if (torch.length > 1) throw new Error(`${dir}: several torch checkpoints (${torch.join(', ')}); pass one file`);
  if (torch.length === 1) return loadWeightsFile(path.join(dir, torch[0]));
  throw new Error(`${dir}: no model weights found (expected model.safetensors, model.safetensors.index.json or a torch .pt/.bin)`);
}

/** Loads one weights file by its extension: .safetensors, *.safetensors.index.json, *.bin.index.json, .pt/.pth/.bin/.ckpt. */
export function loadWeightsFile(file: string): TensorMap {
  const base = path.basename(file);
  if (base.endsWith('.safetensors')) return readSafetensors(file);
  if (base.endsWith('.safetensors.index.json')) return readShardedSafetensors(file);
  if (base.endsWith('.bin.index.json') || base.endsWith('.pt.index.json')) return readShardedTorch(file);
  if (TORCH_EXT.some((e) => base.endsWith(e))) return readTorchCheckpoint(file);
  throw new Error(`${file}: unknown weights file type (expected .safetensors, .safetensors.index.json, .pt, .pth, .bin or .ckpt)`);
}

/** Sharded torch checkpoint (`pytorch_model.bin.index.json`): each shard read once, names checked. */
function readShardedTorch(indexFile: string): TensorMap {
  const out: TensorMap = new Map();
  for (const [shard, names] of groupByShard(indexFile, readWeightMap(indexFile))) {
    const shardPath = path.join(path.dirname(indexFile), shard);
    if (!fs.existsSync(shardPath)) throw new Error(`${indexFile}: shard '${shard}' (holding '${names[0]}') not found at ${shardPath}`);
    const tensors = readTorchCheckpoint(shardPath);
    for (const name of names) {
      if (!tensors.has(name)) throw new Error(`${indexFile}: tensor '${name}' is mapped to shard '${shard}' but is not in it`);
    }
    for (const [name, t] of tensors) {
      if (out.has(name)) throw new Error(`${indexFile}: tensor '${name}' appears in more than one shard (again in '${shard}')`);
      out.set(name, t);
    }
  }
  return out;
}
