import * as fs from 'fs';
import * as path from 'path';

/** The checkpoint shipped with the package (the `tiny` preset trained on the synthetic world). */
export const BUNDLED_CHECKPOINT = path.resolve(__dirname, '..', 'assets', 'rahf-tiny');

/** `ref` when given; otherwise the bundled checkpoint, or a clear error when the package has none. */
export function resolveCheckpoint(ref?: string): string {
  if (ref) return ref;
  if (fs.existsSync(path.join(BUNDLED_CHECKPOINT, 'config.json'))) return BUNDLED_CHECKPOINT;
  throw new Error(`no --checkpoint given and no bundled checkpoint at ${BUNDLED_CHECKPOINT}`);
}
