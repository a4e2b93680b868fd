/**
 * MaskGIT's parallel iterative decoding (Chang et al. 2022, google-research/maskgit `decode`; Muse adds
 * classifier-free guidance): start with every scene token masked; at each of `steps` steps predict all
 * masked tokens at once, sample each from its distribution, and keep the most confident ones — as many
 * as the cosine schedule unmasks by then — re-masking the rest. Confidence is a log-probability plus Gumbel
 * noise annealed to zero over the steps (MaskGIT's "choice temperature"), which keeps early choices diverse.
 * Inpainting is the same loop started from a sequence whose kept tokens are given and only the chosen
 * positions masked.
 *
 * Which log-probability: MaskGIT ranks a position by the probability of the token it drew there, which
 * prefers draws of likely values — re-masked unlikely draws get redrawn until a likely one sticks — so
 * samples are more typical than the model: here an artifact slot's likely value is "none", and with
 * MaskGIT's ranking the bundled generator drew far fewer artifacts than it learned (README, "Decoding").
 * The default ranks a position by its most likely token's probability — how sure the model is there —
 * whatever was drawn, so a committed token is a plain draw from its conditional and sample rates follow
 * the model's; `confidence: 'sampled'` is MaskGIT's ranking.
 *
 * Guidance: logits = cond + w·(cond − uncond), uncond with the prompt tokens dropped ([NULL], as in
 * training); w = 0 samples the conditional model alone (no second pass).
 */
import { Rng } from '@richhf/reward/data';
import type { SynthModel } from './checkpoint';
import { MASK_ID, NULL_ID, POSITION_RANGES, PROMPT_LEN, SCENE_LEN, SEQ_LEN } from './tokens';

export interface DecodeOptions {
  /** Decoding steps (default 8). */
  steps?: number;
  /** Classifier-free guidance scale w (default 0: conditional sampling). */
  guidance?: number;
  /** Softmax temperature of the token draws (default 1). */
  temperature?: number;
  /** Scale of the Gumbel noise on confidences, annealed linearly to 0 (default 4.5, MaskGIT's). */
  choiceTemperature?: number;
  /**
   * What a position's confidence is: 'position' (default) — the log-probability of its most likely token,
   * whatever was drawn; 'sampled' — the log-probability of the token drawn there (MaskGIT's).
   */
  confidence?: 'sampled' | 'position';
  /** Rows per onnxruntime run (default 128; guidance doubles them). */
  batch?: number;
}

export interface DecodeItem {
  /** The 9 prompt tokens. */
  prompt: ArrayLike<number>;
  /** Seed of this item's draws. */
  seed: number;
  /** Inpainting: the scene tokens to start from, and which scene positions to re-generate (the rest are kept). */
  start?: ArrayLike<number>;
  regenerate?: ArrayLike<boolean>;
}

/** Masked fraction after a share `r` of the steps (MaskGIT's cosine schedule). */
export const maskSchedule = (r: number): number => Math.cos((Math.PI / 2) * r);

/** Decodes scene tokens for every item (in order). */
export async function decodeScenes(model: SynthModel, items: ReadonlyArray<DecodeItem>, opts: DecodeOptions = {}): Promise<Int32Array[]> {
  const batch = opts.batch ?? 128;
  const out: Int32Array[] = [];
  for (let i = 0; i < items.length; i += batch) out.push(...(await decodeBatch(model, items.slice(i, i + batch), opts)));
  return out;
}

async function decodeBatch(model: SynthModel, items: ReadonlyArray<DecodeItem>, opts: DecodeOptions): Promise<Int32Array[]> {
  const steps = opts.steps ?? 8;
  const w = opts.guidance ?? 0;
  const temperature = opts.temperature ?? 1;
  const choiceT = opts.choiceTemperature ?? 4.5;
  const byPosition = (opts.confidence ?? 'position') === 'position';
  if (!(Number.isInteger(steps) && steps >= 1)) throw new Error(`decode: steps must be an integer ≥ 1, got ${steps}`);
  const B = items.length;
  const V = model.config.vocab_size;
  const L = SEQ_LEN;
  const seqs = items.map((it) => {
    const s = new Int32Array(L);
    for (let p = 0; p < PROMPT_LEN; p++) s[p] = it.prompt[p];
    for (let p = 0; p < SCENE_LEN; p++) s[PROMPT_LEN + p] = it.start && !(it.regenerate?.[p] ?? true) ? it.start[p] : MASK_ID;
    return s;
  });
  const rngs = items.map((it) => new Rng('synth-decode', it.seed));
  const total = seqs.map((s) => s.reduce((n, t, p) => n + (p >= PROMPT_LEN && t === MASK_ID ? 1 : 0), 0));
  const rows = w !== 0 ? 2 * B : B;
  const ids = new BigInt64Array(rows * L);
  const probs = new Float64Array(V);
  for (let t = 0; t < steps; t++) {
    seqs.forEach((s, b) => {
      for (let p = 0; p < L; p++) ids[b * L + p] = BigInt(s[p]);
      if (w !== 0) for (let p = 0; p < L; p++) ids[(B + b) * L + p] = BigInt(p < PROMPT_LEN ? NULL_ID : s[p]);
    });
    const logits = await model.logits(ids, rows);
    const ratio = (t + 1) / steps;
    for (let b = 0; b < B; b++) {
      const s = seqs[b];
      const rng = rngs[b];
      const masked: number[] = [];
      for (let p = PROMPT_LEN; p < L; p++) if (s[p] === MASK_ID) masked.push(p);
      if (masked.length === 0) continue;
      const cand: Array<{ p: number; tok: number; conf: number }> = [];
      for (const p of masked) {
        const { offset, size } = POSITION_RANGES[p];
        const base = (b * L + p) * V + offset;
        const ubase = ((B + b) * L + p) * V + offset;
        let max = -Infinity;
        for (let k = 0; k < size; k++) {
          const c = logits[base + k];
          const z = (w !== 0 ? c + w * (c - logits[ubase + k]) : c) / temperature;
          probs[k] = z;
          if (z > max) max = z;
        }
        let sum = 0;
        for (let k = 0; k < size; k++) sum += probs[k] = Math.exp(probs[k] - max);
        const top = 1 / sum; // probability of the most likely token (its exp term is 1)
        let u = rng.next() * sum;
        let k = 0;
        while (k < size - 1 && (u -= probs[k]) >= 0) k++;
        const gumbel = -Math.log(-Math.log(Math.max(1e-12, rng.next())));
        cand.push({ p, tok: offset + k, conf: Math.log(byPosition ? top : probs[k] / sum) + choiceT * (1 - ratio) * gumbel });
      }
      // Keep masked after this step: the schedule's share of the tokens to generate, at least one fewer than now.
      const keepMasked = t === steps - 1 ? 0 : Math.min(masked.length - 1, Math.floor(total[b] * maskSchedule(ratio)));
      cand.sort((x, y) => y.conf - x.conf);
      for (let i = 0; i < cand.length - keepMasked; i++) s[cand[i].p] = cand[i].tok;
    }
  }
  return seqs.map((s) => s.slice(PROMPT_LEN));
}
