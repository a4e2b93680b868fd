/**
 * Classifier-free guidance (Ho & Salimans, arXiv 2207.12598) as diffusers' StableDiffusionPipeline applies it:
 * ε = ε_u + s·(ε_c − ε_u) in float32, operation by operation, and optionally the rescale of Lin et al.
 * (arXiv 2305.08891, §3.4; diffusers' rescale_noise_cfg) that pulls the guided prediction's standard deviation
 * back toward the conditional one's.
 */

const f32 = Math.fround;

/** `uncond` and `cond` are the two halves of the UNet's doubled batch (diffusers puts the unconditional first). */
export function combineGuidance(uncond: Float32Array, cond: Float32Array, scale: number): Float32Array {
  const s = f32(scale);
  const out = new Float32Array(uncond.length);
  for (let i = 0; i < out.length; i++) out[i] = uncond[i] + f32(s * f32(cond[i] - uncond[i]));
  return out;
}

/** Unbiased standard deviation of each of `batch` equal items. */
function itemStd(x: Float32Array, batch: number): number[] {
  const n = x.length / batch;
  return Array.from({ length: batch }, (_, b) => {
    let mean = 0;
    for (let i = b * n; i < (b + 1) * n; i++) mean += x[i];
    mean /= n;
    let ss = 0;
    for (let i = b * n; i < (b + 1) * n; i++) ss += (x[i] - mean) ** 2;
    return Math.sqrt(ss / (n - 1));
  });
}

/** diffusers' rescale_noise_cfg: φ·(guided · std(cond) / std(guided)) + (1 − φ)·guided, per batch item. */
export function rescaleGuidance(guided: Float32Array, cond: Float32Array, phi: number, batch: number): Float32Array {
  if (phi === 0) return guided;
  const sc = itemStd(cond, batch);
  const sg = itemStd(guided, batch);
  const n = guided.length / batch;
  const out = new Float32Array(guided.length);
  for (let b = 0; b < batch; b++) {
    const r = sc[b] / sg[b];
    for (let i = b * n; i < (b + 1) * n; i++) out[i] = phi * guided[i] * r + (1 - phi) * guided[i];
  }
  return out;
}
