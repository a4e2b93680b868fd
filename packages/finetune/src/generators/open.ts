import { UserError } from '@richhf/reward';
import type { Generator, GeneratorOptions } from '../generator';
import { A1111Generator } from './a1111';
import { ComfyUIGenerator } from './comfyui';
import { FolderGenerator } from './folder';
import { SdOrtGenerator } from './sd-ort';

export type { GeneratorOptions } from '../generator';

export type GeneratorFactory = (arg: string, opts: GeneratorOptions) => Generator | Promise<Generator>;

const factories = new Map<string, { make: GeneratorFactory; usage: string }>();

/**
 * Adds a generator kind for `--generator kind:ARG` (how the in-process SD pipeline and the synthetic-world
 * generator plug in without this file knowing them).
 */
export function registerGenerator(kind: string, usage: string, make: GeneratorFactory): void {
  factories.set(kind, { make, usage });
}

registerGenerator('folder', 'folder:DIR', (arg) => new FolderGenerator(arg));
registerGenerator('a1111', 'a1111:URL', (arg, o) => new A1111Generator(arg, o));
registerGenerator('comfyui', 'comfyui:URL', (arg, o) => new ComfyUIGenerator(arg, o));
registerGenerator('sd-ort', 'sd-ort:DIR', (arg, o) => SdOrtGenerator.open(arg, o));

/** `--generator KIND:ARG` → a Generator. */
export async function openGenerator(spec: string, opts: GeneratorOptions = {}): Promise<Generator> {
  const colon = spec.indexOf(':');
  const kind = colon < 0 ? spec : spec.slice(0, colon);
  const arg = colon < 0 ? '' : spec.slice(colon + 1);
  const f = factories.get(kind);
  if (!f) throw new UserError(`--generator ${spec}: unknown kind "${kind}" (one of ${[...factories.values()].map((v) => v.usage).join(', ')})`);
  if (!arg && f.usage.includes(':')) throw new UserError(`--generator ${spec}: expected ${f.usage}`);
  return f.make(arg, opts);
}
