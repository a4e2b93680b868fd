import { createHash } from 'crypto';

/**
 * Prompt ids come from users (JSONL `id` fields, line numbers) and end up in file names, tar member names
 * and webdataset keys. A key is the id itself when it is already a plain name (letters, digits, `_`, `-`;
 * no dot, since webdataset splits a member name at its first dot), otherwise a readable slug plus a hash of
 * the id, so `../../x` becomes `x-…` and can never leave the output folder, and two ids never share a key.
 */
const PLAIN = /^[A-Za-z0-9][A-Za-z0-9_-]{0,79}$/;

export function safeKey(id: string): string {
  if (PLAIN.test(id)) return id;
  const slug = id
    .normalize('NFKD')
    .replace(/[^A-Za-z0-9_-]+/g, '_')
    .replace(/^[_-]+|[_-]+$/g, '')
    .slice(0, 48);
  const hash = createHash('sha256').update(id, 'utf8').digest('hex').slice(0, 12);
  return slug ? `${slug}-${hash}` : `id-${hash}`;
}

/** The key of candidate `index` of a prompt: `<prompt key>_<index>` (unambiguous: the index has no `_`). */
export function sampleKey(promptKey: string, index: number): string {
  return `${promptKey}_${index}`;
}

/**
 * Seeds of a prompt's N candidates: a base drawn from (run seed, prompt id), then base + k, the rule
 * AUTOMATIC1111 applies to a batch, so every adapter (and a rerun, and any worker) asks for the same images.
 */
export function candidateSeeds(runSeed: number, promptId: string, n: number): number[] {
  const h = createHash('sha256').update(`${runSeed}\u0000${promptId}`, 'utf8').digest();
  // 31 bits minus room for n: every seed fits a signed 32-bit int, as A1111's and ComfyUI's fields take.
  const base = h.readUInt32BE(0) % (2 ** 31 - 1 - 4096);
  return Array.from({ length: n }, (_, k) => base + k);
}
