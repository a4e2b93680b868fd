import * as fs from 'fs';
import * as path from 'path';

/** The checkpoint shipped with the package (the `tiny` preset trained on the synthetic world). */
export const BUNDLED_CHECKPOINT = path.resolve(__dirname, '..', 'assets', 'rahf-tiny');

/**
 * The tokenizer presets use when neither a tokenizer nor a T5 checkpoint is given: a small T5-style
 * Unigram vocabulary covering the synthetic world's prompts (the bundled checkpoint's tokenizer).
 */
export const BUNDLED_TOKENIZER = path.resolve(__dirname, '..', 'assets', 'synth-tokenizer', 'tokenizer.json');

/** `ref` when given; otherwise the bundled checkpoint, or a clear error when the package has none. */
export function resolveCheckpoint(ref?: string): string {
  if (ref) return ref;
  if (fs.existsSync(path.join(BUNDLED_CHECKPOINT, 'config.json'))) return BUNDLED_CHECKPOINT;
  throw new Error(`no --checkpoint given and no bundled checkpoint at ${BUNDLED_CHECKPOINT}`);
}
