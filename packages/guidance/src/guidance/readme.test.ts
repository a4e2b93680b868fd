import * as fs from 'fs';
import * as os from 'os';
import * as path from 'path';
import { packageFixturesDir } from '../testing/parity';
import { writeSdTinyFolder } from '../testing/sd-tiny';

// The README's code, run as written: each block after a `<!-- readme-example: NAME -->` marker is turned from
// ESM into a function body (imports become requires; `@richhf/guidance` is this package's source) and awaited.
// Only what the opening example cannot have here is swapped: the model and VAE paths (the sd_tiny and TAESD test
// fixtures stand in for SD 1.5 and madebyollin/taesd) and its 25 steps at 512² (2 steps at 64²).

const README = fs.readFileSync(path.resolve(__dirname, '../../README.md'), 'utf8');

function example(name: string): string {
  const m = new RegExp(`<!-- readme-example: ${name}[^>]*-->\\s*\`\`\`js\\n([\\s\\S]*?)\`\`\``).exec(README);
  if (!m) throw new Error(`README.md: no example "${name}"`);
  return m[1];
}

/** Runs an ESM snippet; `tail` is appended (e.g. a return of its variables). */
async function run(code: string, tail: string, swap: [string | RegExp, string][] = []): Promise<Record<string, unknown>> {
  let body = code.replace(/^import \{([^}]*)\} from '([^']+)';$/gm, (_, names: string, mod: string) => {
    const target = mod === '@richhf/guidance' ? require.resolve('../index') : mod;
    return `const {${names.replace(/ as /g, ': ')}} = require(${JSON.stringify(target)});`;
  });
  for (const [a, b] of swap) body = body.replace(a, b);
  const fn = new Function('require', 'console', `return (async () => {\n${body}\n${tail}\n})();`);
  const logs: unknown[] = [];
  return fn(require, { log: (...a: unknown[]) => logs.push(a) }).then((r: Record<string, unknown>) => ({ ...r, logs }));
}

let tmp: string;
beforeAll(() => (tmp = fs.mkdtempSync(path.join(os.tmpdir(), 'guide-readme-'))));
afterAll(() => fs.rmSync(tmp, { recursive: true, force: true }));

test('the opening example: guided Stable Diffusion through the pipeline hook, written to a PNG', async () => {
  const model = path.join(tmp, 'sd');
  await writeSdTinyFolder(model, {});
  const taesd = path.join(packageFixturesDir(), 'taesd');
  const png = path.join(tmp, 'cat.png');
  const code = example('opening');
  expect(code.trim().split('\n').filter((l) => !l.startsWith('import ')).length).toBeLessThanOrEqual(5);
  const r = await run(code, 'return { guide, images, imageShape };', [
    ["'sd_v15_onnx'", JSON.stringify(model)],
    [/'madebyollin\/taesd'/g, JSON.stringify(taesd)],
    ["'a red cat on a sofa'", "'a red cat'"],
    ['steps: 25', 'steps: 2, height: 64, width: 64'],
    ["'cat.png'", JSON.stringify(png)],
  ]);
  expect(r.imageShape).toEqual([1, 64, 64, 3]);
  expect((r.guide as { stats: { guided: number; skipped: number } }).stats).toMatchObject({ guided: 2, skipped: 0 });
  expect(fs.readFileSync(png).subarray(1, 4).toString()).toBe('PNG');
});

test('the hand-written DDIM loop: guided, finite, and different from the same loop at scale 0', async () => {
  const code = example('loop');
  const lines = code.trim().split('\n').filter((l) => l.trim() && !l.startsWith('import ') && !l.startsWith('//'));
  expect(lines.length).toBeLessThanOrEqual(20);
  const guided = await run(code, 'return { x, pixels, stats: guide.stats };');
  expect(guided.stats).toMatchObject({ guided: 4, skipped: 0, evaluations: 4 });
  expect(guided.logs).toHaveLength(1);
  expect((guided.pixels as Float32Array).length).toBe(128 * 128 * 3);
  expect((guided.pixels as Float32Array).every((v) => v >= 0 && v <= 1)).toBe(true);
  const plain = await run(code, 'return { x };', [['scale: 3,', 'scale: 0,']]);
  expect(Buffer.from((plain.x as Float32Array).buffer).equals(Buffer.from((guided.x as Float32Array).buffer))).toBe(false);
});
