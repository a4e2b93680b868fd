import * as fs from 'fs';
import * as path from 'path';
import { readSafetensors } from '../io/safetensors';
import { TensorMap } from '../io/tensors';
import { Params } from '../nn/params';
import { UserError } from '../errors';
import { readRegularText } from '../io/files';

/**
 * Read a Hugging Face `config.json` (or any JSON file). `dirOrFile` is a model directory (then `name`
 * inside it is read) or a path ending in `.json`. Errors are one line naming the file.
 */
export function readJsonConfig(dirOrFile: string, name = 'config.json'): any {
  const file = dirOrFile.endsWith('.json') ? dirOrFile : path.join(dirOrFile, name);
  // Regular files only, size-limited (io/files.ts): a FIFO named config.json would block forever.
  if (!fs.existsSync(file)) throw new UserError(`${file}: cannot read (file not found)`);
  const text = readRegularText(file, 'JSON config');
  let json: unknown;
  try {
    json = JSON.parse(text);
  } catch (e) {
    throw new UserError(`${file}: not valid JSON (${(e as Error).message.split('\n')[0]})`);
  }
  if (json === null || typeof json !== 'object' || Array.isArray(json)) {
    throw new UserError(`${file}: expected a JSON object at the top level`);
  }
  return json;
}

/**
 * `json[key]` when present, else `fallback` (HF's default); throws when present with the wrong type.
 * `where` names the config in the message (e.g. "vision_config").
 */
export function field<T extends number | string | boolean>(json: any, key: string, fallback: T, where = 'config'): T {
  const v = json?.[key];
  if (v === undefined || v === null) return fallback;
  if (typeof v !== typeof fallback) {
    throw new Error(`${where}.${key}: expected a ${typeof fallback}, got ${JSON.stringify(v)}`);
  }
  if (typeof v === 'number' && !Number.isFinite(v)) throw new Error(`${where}.${key}: not a finite number`);
  return v as T;
}

/** A positive integer field (sizes, counts). */
export function intField(json: any, key: string, fallback: number, where = 'config'): number {
  const v = field(json, key, fallback, where);
  if (!Number.isInteger(v) || v <= 0) throw new Error(`${where}.${key}: expected a positive integer, got ${v}`);
  return v;
}

/** Throws unless `json.model_type` is one of `types` (a missing model_type is accepted). */
export function expectModelType(json: any, types: string[], where = 'config'): void {
  const t = json?.model_type;
  if (t !== undefined && !types.includes(t)) {
    throw new Error(`${where}: model_type "${t}" is not ${types.map((x) => `"${x}"`).join(' or ')}`);
  }
}

/** Prefix an error's message with the file it concerns, keeping it one line. */
export function withFile<T>(file: string, fn: () => T): T {
  try {
    return fn();
  } catch (e) {
    // A bug (TypeError, RangeError…) stays what it is; a refusal of the file's content is the user's.
    if (!(e instanceof Error) || (e.constructor !== Error && !(e instanceof UserError))) throw e;
    const msg = e.message;
    throw new UserError(msg.startsWith(file) ? msg : `${file}: ${msg}`);
  }
}

/**
 * An HF model folder's two halves, as every tower loader reads them: config.json parsed by `parseConfig`
 * and the weights file (default model.safetensors) on the host. Errors name the file.
 */
export function readHFFolder<C>(dir: string, parseConfig: (json: any) => C, weights = 'model.safetensors'): { config: C; host: TensorMap; file: string } {
  const cfgFile = path.join(dir, 'config.json');
  const config = withFile(cfgFile, () => parseConfig(readJsonConfig(cfgFile)));
  const file = path.join(dir, weights);
  return { config, host: withFile(file, () => readSafetensors(file)), file };
}

/** `build(params)`, its errors naming `file`; the parameters are released when it throws. */
export function buildWithParams<M>(params: Params, file: string, build: (p: Params) => M): M {
  try {
    return withFile(file, () => build(params));
  } catch (e) {
    params.dispose();
    throw e;
  }
}
