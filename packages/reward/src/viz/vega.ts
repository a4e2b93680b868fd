import * as path from 'path';
import { pathToFileURL } from 'url';
import sharp from 'sharp';
import { UserError } from '../errors';

/** A Vega-Lite specification (https://vega.github.io/vega-lite/docs/spec.html), checked by vega-lite at render time. */
export type VegaLiteSpec = { [key: string]: unknown };

/** What this package uses of vega and vega-lite (their own typings are ESM-only and heavy for notebook kernels). */
interface VegaView {
  toSVG(scaleFactor?: number): Promise<string>;
  finalize(): void;
}
interface VegaModule {
  parse(spec: unknown): unknown;
  View: new (runtime: unknown, opts: { renderer: 'none'; logLevel?: number }) => VegaView;
  scheme(name: string): ((t: number) => string) | undefined;
}
interface VegaLiteModule {
  compile(spec: unknown): { spec: unknown };
}

let loaded: Promise<{ vega: VegaModule; vl: VegaLiteModule }> | undefined;

type Importer = (specifier: string) => Promise<unknown>;

/**
 * vega and vega-lite are ESM-only with top-level await, so neither `require()` (not even Node ≥ 20.19's
 * require(esm)) nor TypeScript's CommonJS `import()` (compiled to require) loads them: a real dynamic
 * import is needed. In plain Node a Function-built `import()` is that. Inside Jest's sandbox it throws
 * (Jest's module hook wants --experimental-vm-modules), so there the import runs in the host context
 * with Node's own loader (vm.constants.USE_MAIN_CONTEXT_DEFAULT_LOADER, Node ≥ 20.12).
 */
async function esmImport(specifier: string): Promise<unknown> {
  const plain = new Function('s', 'return import(s)') as Importer;
  try {
    return await plain(specifier);
  } catch (e) {
    if (!/experimental-vm-modules|ERR_VM_DYNAMIC_IMPORT/.test(`${(e as { code?: string }).code} ${(e as Error).message}`)) throw e;
  }
  // eslint-disable-next-line @typescript-eslint/no-require-imports
  const vm = require('vm') as typeof import('vm');
  const host = vm.runInThisContext('(s) => import(s)', {
    importModuleDynamically: vm.constants.USE_MAIN_CONTEXT_DEFAULT_LOADER,
  }) as Importer;
  return host(specifier);
}

function resolveEsm(name: string): string {
  // The package's `exports` only has a `default` condition, which require.resolve accepts.
  return pathToFileURL(path.resolve(require.resolve(name))).href;
}

/** The vega and vega-lite modules, loaded once. */
export function loadVega(): Promise<{ vega: VegaModule; vl: VegaLiteModule }> {
  loaded ??= (async () => {
    const [vega, vl] = await Promise.all([esmImport(resolveEsm('vega')), esmImport(resolveEsm('vega-lite'))]);
    return { vega: vega as VegaModule, vl: vl as VegaLiteModule };
  })();
  return loaded;
}

/** Render a Vega-Lite spec to an SVG document (headless: vega's renderer 'none', no canvas needed). */
export async function renderSvg(spec: VegaLiteSpec): Promise<string> {
  const { vega, vl } = await loadVega();
  let compiled: unknown;
  try {
    compiled = vl.compile(spec).spec;
  } catch (e) {
    throw new UserError(`vega-lite: ${(e as Error).message.split('\n')[0]}`);
  }
  const view = new vega.View(vega.parse(compiled), { renderer: 'none', logLevel: 0 });
  try {
    return await view.toSVG();
  } finally {
    view.finalize();
  }
}

export interface PngOptions {
  /** Pixel density: 2 renders at twice the spec's size (sharper in notebooks; default 1). */
  scale?: number;
}

/** Render a Vega-Lite spec to PNG: vega writes SVG, sharp (librsvg) rasterises it on white. */
export async function renderPng(spec: VegaLiteSpec, opts: PngOptions = {}): Promise<Buffer> {
  return svgToPng(await renderSvg(spec), opts.scale);
}

/** Rasterise an SVG document on a white background. */
export async function svgToPng(svg: string, scale = 1): Promise<Buffer> {
  if (!(scale > 0 && scale <= 8)) throw new UserError(`svgToPng: scale must be in (0, 8], got ${scale}`);
  return sharp(Buffer.from(svg), { density: 72 * scale }).flatten({ background: '#ffffff' }).png().toBuffer();
}

/** vega's colour scheme `name` (e.g. 'turbo', 'inferno') as an interpolator on [0,1] returning CSS colours. */
export async function colourScheme(name: string): Promise<(t: number) => string> {
  const { vega } = await loadVega();
  const s = vega.scheme(name);
  if (typeof s !== 'function') throw new UserError(`vega has no continuous colour scheme '${name}'`);
  return s;
}
