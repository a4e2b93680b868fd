import * as fs from 'fs';
import * as path from 'path';
import { readSafetensors } from '@richhf/reward/io';

/** The package's own copy, test/fixtures/parity/diffusers: what the non-parity tests build their models from. */
export function packageFixturesDir(): string {
  return path.resolve(__dirname, '../../test/fixtures/parity/diffusers');
}

/** `<RAHF_PARITY_DIR or test/fixtures/parity>/diffusers`: the root the diffusers parity tests walk. */
export function diffusersParityDir(): string {
  return path.join(process.env.RAHF_PARITY_DIR ?? path.resolve(__dirname, '../../test/fixtures/parity'), 'diffusers');
}

/** Sub-folders of the diffusers parity root that hold all of `files` (sorted). */
export function caseDirsWith(...files: string[]): string[] {
  const root = diffusersParityDir();
  if (!fs.existsSync(root)) return [];
  return fs
    .readdirSync(root, { withFileTypes: true })
    .filter((d) => d.isDirectory())
    .map((d) => path.join(root, d.name))
    .filter((dir) => files.every((f) => fs.existsSync(path.join(dir, f))))
    .sort();
}

export interface HostArray {
  data: Float32Array | Int32Array | Uint8Array;
  shape: number[];
}

/** Every tensor of a safetensors file by name. */
export function readTensors(file: string): Map<string, HostArray> {
  return readSafetensors(file) as unknown as Map<string, HostArray>;
}

/** The named tensor (its data as float32), or an error naming the file and key. */
export function tensor(map: Map<string, HostArray>, key: string, file = 'fixture'): { data: Float32Array; shape: number[] } {
  const t = map.get(key);
  if (!t) throw new Error(`${file}: no tensor ${key}`);
  return { data: t.data instanceof Float32Array ? t.data : Float32Array.from(t.data), shape: t.shape };
}

/** max |a − e| / max(|e|, floor): the error relative to the reference's largest magnitude. */
export function relToMax(actual: ArrayLike<number>, expected: ArrayLike<number>, floor = 0): number {
  if (actual.length !== expected.length) throw new Error(`length ${actual.length} != expected ${expected.length}`);
  let scale = floor;
  let err = 0;
  for (let i = 0; i < expected.length; i++) {
    scale = Math.max(scale, Math.abs(expected[i]));
    const d = Math.abs(actual[i] - expected[i]);
    err = Number.isNaN(d) ? Infinity : Math.max(err, d);
  }
  return scale > 0 ? err / scale : err;
}

/** max over elements of |a − e| / max(|e|, 1e-3·max|e|): element-wise relative error, near-zero entries judged against the scale. */
export function relElementwise(actual: ArrayLike<number>, expected: ArrayLike<number>): number {
  if (actual.length !== expected.length) throw new Error(`length ${actual.length} != expected ${expected.length}`);
  let scale = 0;
  for (let i = 0; i < expected.length; i++) scale = Math.max(scale, Math.abs(expected[i]));
  let err = 0;
  for (let i = 0; i < expected.length; i++) {
    const d = Math.abs(actual[i] - expected[i]) / Math.max(Math.abs(expected[i]), 1e-3 * scale);
    err = Number.isNaN(d) ? Infinity : Math.max(err, d);
  }
  return err;
}

/** The parity criterion of the reward package: max over elements of |a − e| / max(1, |e|). */
export function absRel(actual: ArrayLike<number>, expected: ArrayLike<number>): number {
  if (actual.length !== expected.length) throw new Error(`length ${actual.length} != expected ${expected.length}`);
  let err = 0;
  for (let i = 0; i < expected.length; i++) {
    const d = Math.abs(actual[i] - expected[i]) / Math.max(1, Math.abs(expected[i]));
    err = Number.isNaN(d) ? Infinity : Math.max(err, d);
  }
  return err;
}
