import type fc from 'fast-check';
import type { Files } from './encode';

/** One parser under fuzz: how to make valid inputs, run the parser, and judge what it accepted. */
export interface Target<S = unknown, R = unknown> {
  name: string;
  /** Whether structural JSON mutations apply (the input has JSON files). */
  json: boolean;
  /**
   * Whether the format's checksums cover every byte that matters (TFRecord CRC32C, zip CRC32): an accepted
   * mutated input must then decode exactly as the valid one did.
   */
  integrity: boolean;
  spec: fc.Arbitrary<S>;
  /** The valid input: its files and the one the parser is pointed at (relative to the case folder). */
  build(spec: S): Promise<{ files: Files; main: string; context?: unknown }>;
  /** Runs the parser on `dir/main` (`context`: what build returned beside the files, never mutated). */
  parse(dir: string, main: string, context?: unknown): Promise<R>;
  /** What was accepted, canonically (compared between a valid input and an accepted mutation of it). */
  summary(result: R): string;
  /**
   * For checksummed formats, whether `got` (accepted from a mutated input) is something the valid input
   * holds. Default: the same summary. Record streams (TFRecord) have no count to check: a file cut or
   * spliced at record boundaries is valid, so there every accepted record must be one of the originals.
   */
  sameContent?(valid: R, got: R): boolean;
  /**
   * A reason an accepted result is garbage (inconsistent in itself), or undefined. It may use the result
   * (encode with a tokenizer…): a UserError it throws counts as a refusal, anything else as a bad error.
   */
  check?(result: R, dir: string, main: string): string | undefined;
  /** Frees what an accepted result holds (tf variables). */
  dispose?(result: R): void;
}

/** Stable text of tensors / records: dtype, shape and every byte. */
export function digestBytes(b: Uint8Array | ArrayBufferView): string {
  const u = new Uint8Array(b.buffer, b.byteOffset, b.byteLength);
  let h = 0x811c9dc5;
  for (let i = 0; i < u.length; i++) h = Math.imul(h ^ u[i], 0x01000193);
  return `${u.length}:${(h >>> 0).toString(16)}`;
}
