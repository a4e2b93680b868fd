/**
 * The exact denoiser of an empirical distribution: for data that is uniform over a set {z_i} and the
 * variance-preserving forward process v = √ᾱ·z + √(1−ᾱ)·ε, the minimum-mean-squared-error estimate is
 *   x̂₀(v) = Σ_i softmax_i(−‖v − √ᾱ·z_i‖² / 2(1−ᾱ)) · z_i,
 * and ε̂ = (v − √ᾱ·x̂₀) / √(1−ᾱ). A sampler driven by it is the ideal "model" of that set: its samples converge
 * to members of the set (it memorises, as an over-trained diffusion model would), so each sample inherits a
 * member's exact truth. Members carry a group (the prompt they were rendered for): a query for group k sees
 * only group k's members — the conditional model of a text-to-image set.
 */
export class EmpiricalDenoiser {
  /** Member indices per group. */
  readonly groups: number[][] = [];
  private readonly sqNorm: Float64Array;
  readonly dim: number;

  constructor(
    /** Members, N × dim values (the sampler's scaled latents). */
    readonly members: Float32Array,
    /** Group of each member. */
    memberGroups: readonly number[],
  ) {
    const n = memberGroups.length;
    if (n === 0 || members.length % n !== 0) throw new RangeError(`EmpiricalDenoiser: ${members.length} values for ${n} members`);
    this.dim = members.length / n;
    memberGroups.forEach((g, i) => (this.groups[g] ??= []).push(i));
    this.sqNorm = new Float64Array(n);
    for (let i = 0; i < n; i++) {
      let s = 0;
      for (let j = i * this.dim; j < (i + 1) * this.dim; j++) s += members[j] * members[j];
      this.sqNorm[i] = s;
    }
  }

  /** Posterior weights over group `group`'s members for one VP sample `v` (dim values) at ᾱ. */
  weights(v: Float32Array, offset: number, alphaBar: number, group: number): { index: number[]; weight: Float64Array } {
    const index = this.groups[group];
    if (!index) throw new RangeError(`EmpiricalDenoiser: no members in group ${group}`);
    const a = Math.sqrt(alphaBar);
    const inv = 1 / (2 * Math.max(1 - alphaBar, 1e-12));
    const logits = new Float64Array(index.length);
    let max = -Infinity;
    index.forEach((m, k) => {
      let dot = 0;
      const base = m * this.dim;
      for (let j = 0; j < this.dim; j++) dot += v[offset + j] * this.members[base + j];
      // −‖v − a·z‖² / 2(1−ᾱ) without the ‖v‖² term, which every member shares.
      const l = (2 * a * dot - alphaBar * this.sqNorm[m]) * inv;
      logits[k] = l;
      if (l > max) max = l;
    });
    let sum = 0;
    for (let k = 0; k < logits.length; k++) sum += logits[k] = Math.exp(logits[k] - max);
    for (let k = 0; k < logits.length; k++) logits[k] /= sum;
    return { index, weight: logits };
  }

  /** x̂₀ and ε̂ for a batch of VP samples (one group per item). */
  predict(v: Float32Array, alphaBar: number, groups: readonly number[]): { x0: Float32Array; eps: Float32Array } {
    const d = this.dim;
    if (v.length !== groups.length * d) throw new RangeError(`EmpiricalDenoiser: ${v.length} values for ${groups.length} samples of ${d}`);
    const x0 = new Float32Array(v.length);
    const eps = new Float32Array(v.length);
    const a = Math.sqrt(alphaBar);
    const b = Math.sqrt(Math.max(1 - alphaBar, 1e-12));
    groups.forEach((g, i) => {
      const { index, weight } = this.weights(v, i * d, alphaBar, g);
      const acc = new Float64Array(d);
      index.forEach((m, k) => {
        const w = weight[k];
        if (w < 1e-12) return;
        for (let j = 0; j < d; j++) acc[j] += w * this.members[m * d + j];
      });
      for (let j = 0; j < d; j++) {
        x0[i * d + j] = acc[j];
        eps[i * d + j] = (v[i * d + j] - a * acc[j]) / b;
      }
    });
    return { x0, eps };
  }

  /**
   * The exact vector–Jacobian product of x̂₀(v): d/dv of g·x̂₀ = √ᾱ/(1−ᾱ) · Σ_i w_i (z_i − z̄)((z_i − z̄)·g), the
   * posterior covariance of the members applied to g. Where forward guidance moves v along g itself, this moves it
   * toward the members whose difference from the current blend the reward gradient favours.
   */
  vjp(v: Float32Array, alphaBar: number, groups: readonly number[], gradX0: Float32Array): Float32Array {
    const d = this.dim;
    const out = new Float32Array(v.length);
    const c = Math.sqrt(alphaBar) / Math.max(1 - alphaBar, 1e-12);
    groups.forEach((g, i) => {
      const { index, weight } = this.weights(v, i * d, alphaBar, g);
      const mean = new Float64Array(d);
      index.forEach((m, k) => {
        if (weight[k] < 1e-12) return;
        for (let j = 0; j < d; j++) mean[j] += weight[k] * this.members[m * d + j];
      });
      const acc = new Float64Array(d);
      index.forEach((m, k) => {
        const w = weight[k];
        if (w < 1e-12) return;
        let dot = 0;
        for (let j = 0; j < d; j++) dot += (this.members[m * d + j] - mean[j]) * gradX0[i * d + j];
        for (let j = 0; j < d; j++) acc[j] += w * dot * (this.members[m * d + j] - mean[j]);
      });
      for (let j = 0; j < d; j++) out[i * d + j] = c * acc[j];
    });
    return out;
  }

  /** The member nearest to each sample (all groups) and the distance, absolute and relative to the member's norm. */
  nearest(x: Float32Array): Array<{ member: number; distance: number; relative: number }> {
    const d = this.dim;
    const out: Array<{ member: number; distance: number; relative: number }> = [];
    for (let i = 0; i < x.length / d; i++) {
      let best = -1;
      let bestD = Infinity;
      for (let m = 0; m < this.sqNorm.length; m++) {
        let s = 0;
        for (let j = 0; j < d; j++) {
          const e = x[i * d + j] - this.members[m * d + j];
          s += e * e;
        }
        if (s < bestD) [bestD, best] = [s, m];
      }
      out.push({ member: best, distance: Math.sqrt(bestD), relative: Math.sqrt(bestD / this.sqNorm[best]) });
    }
    return out;
  }

  /** Median distance from a member to its nearest other member of the same group: the set's own spacing. */
  memberSpacing(): number {
    const d = this.dim;
    const ds: number[] = [];
    for (const idx of this.groups) {
      if (!idx) continue;
      for (const m of idx) {
        let best = Infinity;
        for (const o of idx) {
          if (o === m) continue;
          let s = 0;
          for (let j = 0; j < d; j++) {
            const e = this.members[m * d + j] - this.members[o * d + j];
            s += e * e;
          }
          best = Math.min(best, s);
        }
        if (best < Infinity) ds.push(Math.sqrt(best));
      }
    }
    ds.sort((a, b) => a - b);
    return ds[Math.floor(ds.length / 2)] ?? NaN;
  }
}
