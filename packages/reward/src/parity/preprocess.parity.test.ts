import * as fs from 'fs';
import * as path from 'path';
import { preprocessCLIP, resizeForViT, loadImage, type ProcessorBackend } from '../image';
import { readSafetensors } from '../io/safetensors';
import { parityDir } from './fixtures';

// Every directory under the parity root holding input.png + io.safetensors with *_pixel_values_nchw is
// a preprocessing case (key prefix vit | clip picks the processor). Requirement: mean |Δ| ≤ 0.02 in
// normalised units; measured figures are printed.

const MEAN_TOL = 0.02;

function caseDirsWithInput(root: string): string[] {
  const out: string[] = [];
  const walk = (dir: string) => {
    const entries = fs.readdirSync(dir, { withFileTypes: true });
    if (entries.some((e) => e.name === 'input.png') && entries.some((e) => e.name === 'io.safetensors')) out.push(dir);
    for (const e of entries) if (e.isDirectory()) walk(path.join(dir, e.name));
  };
  if (fs.existsSync(root)) walk(root);
  return out.sort();
}

/** NCHW [1,3,H,W] → NHWC flat, to compare with our NHWC output. */
function nchwToNhwc(data: ArrayLike<number>, h: number, w: number): Float32Array {
  const out = new Float32Array(h * w * 3);
  for (let c = 0; c < 3; c++) for (let i = 0; i < h * w; i++) out[i * 3 + c] = data[c * h * w + i];
  return out;
}

function gaps(a: Float32Array, e: Float32Array): { mean: number; max: number } {
  if (a.length !== e.length) throw new Error(`length ${a.length} != expected ${e.length}`);
  let sum = 0;
  let max = 0;
  for (let i = 0; i < a.length; i++) {
    const d = Math.abs(a[i] - e[i]);
    sum += d;
    if (!(d <= max)) max = d;
  }
  return { mean: sum / a.length, max };
}

const root = parityDir();
const dirs = caseDirsWithInput(root);

test('parity fixtures contain a preprocessing case', () => {
  expect(dirs.length).toBeGreaterThan(0);
});

type Run = (file: string, h: number, w: number, backend: ProcessorBackend) => Promise<Float32Array>;
const processors: Record<string, Run> = {
  vit: (file, h, w, backend) => resizeForViT(file, [h, w], { backend }),
  clip: (file, h, _w, backend) => preprocessCLIP(file, h, { backend }),
};

for (const dir of dirs) {
  const rel = path.relative(root, dir);
  const io = readSafetensors(path.join(dir, 'io.safetensors'));
  for (const [key, t] of io) {
    const m = /^(\w+?)_pixel_values_nchw$/.exec(key);
    if (!m) continue;
    // transformers 5 processors resize with torchvision; the PIL ("slow") path must stay within the bound.
    for (const backend of ['torchvision', 'pil'] as const) {
      test(`${rel}: ${key} (${backend} resampling) within mean |Δ| ${MEAN_TOL}`, async () => {
        const run = processors[m[1]];
        if (!run) throw new Error(`no preprocessor for "${m[1]}"`);
        const [, , h, w] = t.shape;
        const ours = await run(path.join(dir, 'input.png'), h, w, backend);
        const g = gaps(ours, nchwToNhwc(t.data, h, w));
        // eslint-disable-next-line no-console
        console.log(`${rel} ${key} [${backend}]: mean |Δ| ${g.mean.toExponential(3)}, max |Δ| ${g.max.toExponential(3)} (normalised units)`);
        expect(g.mean).toBeLessThanOrEqual(MEAN_TOL);
        // The reference is exactly torchvision's 8-bit output, which the default backend reproduces.
        if (backend === 'torchvision') expect(g.max).toBeLessThan(1e-5);
      });
    }
  }

  test(`${rel}: input decodes to 8-bit levels`, async () => {
    const img = await loadImage(path.join(dir, 'input.png'));
    expect(img.data.length).toBe(img.width * img.height * 3);
    expect(img.data.every((v) => Math.abs(v * 255 - Math.round(v * 255)) < 1e-4)).toBe(true);
  });
}
