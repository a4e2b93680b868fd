import * as fs from 'fs';
import * as path from 'path';
import { TensorMap } from './tensors';
import { readSafetensors, readShardedSafetensors } from './safetensors';
import { readSharded } from './shards';
import { readTorchCheckpoint } from './torch-pickle';
import { UserError } from '../errors';

const TORCH_EXT = ['.pt', '.pth', '.bin', '.ckpt'];

/**
 * Loads the weights of a model directory, in the order Hugging Face prefers them: model.safetensors,
 * model.safetensors.index.json (sharded), pytorch_model.bin, pytorch_model.bin.index.json (sharded
 * torch), then a single *.pt / *.pth (torch zip). Several candidate .pt/.pth files are ambiguous and
 * an error. A path to a file is loaded as `loadWeightsFile`.
 */
export function loadWeights(dir: string): TensorMap {
  if (!fs.existsSync(dir)) throw new UserError(`${dir}: no such file or directory`);
  if (!fs.statSync(dir).isDirectory()) return loadWeightsFile(dir);
  for (const name of ['model.safetensors', 'model.safetensors.index.json', 'pytorch_model.bin', 'pytorch_model.bin.index.json']) {
    const f = path.join(dir, name);
    if (fs.existsSync(f)) return loadWeightsFile(f);
  }
  const torch = fs
    .readdirSync(dir)
    .filter((f) => f.endsWith('.pt') || f.endsWith('.pth'))
    .sort();
  if (torch.length > 1) throw new UserError(`${dir}: several torch checkpoints (${torch.join(', ')}); pass one file`);
  if (torch.length === 1) return loadWeightsFile(path.join(dir, torch[0]));
  throw new UserError(`${dir}: no model weights found (expected model.safetensors, model.safetensors.index.json or a torch .pt/.bin)`);
}

/** Loads one weights file by its extension: .safetensors, *.safetensors.index.json, *.bin.index.json, .pt/.pth/.bin/.ckpt. */
export function loadWeightsFile(file: string): TensorMap {
  const base = path.basename(file);
  if (base.endsWith('.safetensors')) return readSafetensors(file);
  if (base.endsWith('.safetensors.index.json')) return readShardedSafetensors(file);
  if (base.endsWith('.bin.index.json') || base.endsWith('.pt.index.json')) return readShardedTorch(file);
  if (TORCH_EXT.some((e) => base.endsWith(e))) return readTorchCheckpoint(file);
  throw new UserError(`${file}: unknown weights file type (expected .safetensors, .safetensors.index.json, .pt, .pth, .bin or .ckpt)`);
}

/** Sharded torch checkpoint (`pytorch_model.bin.index.json`): each shard read once, names checked. */
function readShardedTorch(indexFile: string): TensorMap {
  return readSharded(indexFile, readTorchCheckpoint);
}
