// `@richhf/reward/io`: checkpoint files — safetensors (sharded too), torch zip/pickle (restricted unpickler),
// HF folders and the Hugging Face hub cache.
export { type HostTensor, type TensorMap, numel } from './tensors';
export { readSafetensors, readSafetensorsBytes, readSafetensorsHeader, writeSafetensors, readShardedSafetensors } from './safetensors';
export { readTorchCheckpoint } from './torch-pickle';
export { loadWeights, loadWeightsFile } from './weights';
export { resolveModel, hubCacheDir, isOfflineEnv, parseModelRef, type ResolveOptions } from './hub';
export { type Limits, DEFAULT_LIMITS, getLimits, setLimits, limitsWith } from './limits';
export { openRegular, readRegularFile, readRegularText } from './files';
