import * as fs from 'fs';
import * as path from 'path';
import * as tf from '@tensorflow/tfjs';
import { readSafetensors } from '../../io/safetensors';
import { HostTensor } from '../../io/tensors';
import { compare } from '../../parity/fixtures';
import { HEATMAP_NAMES, SCORE_NAMES } from '../../rahf/config';
import { RewardModel } from '../../rahf/model';
import { AdamW, clipGlobalNorm } from '../../train/optimizer';
import { CaseInput, Outputs, Parts, concatHeat, concatScores, paramGradErr, runCase } from './cases';
import { Json, TARGET, TOL_GRAD, TOL_REF, check, failures, log, r3, relErr, result, setBackend } from './harness';

// ------------------------------------------------------------------------------------------------
// b. kernels and fixture parity

export function nchwToNhwc(t: HostTensor): { data: Float32Array; shape: [number, number, number, number] } {
  const [b, c, h, w] = t.shape;
  const src = t.data as Float32Array;
  const out = new Float32Array(src.length);
  for (let n = 0; n < b; n++)
    for (let y = 0; y < h; y++)
      for (let x = 0; x < w; x++)
        for (let k = 0; k < c; k++) out[((n * h + y) * w + x) * c + k] = src[((n * c + k) * h + y) * w + x];
  return { data: out, shape: [b, h, w, c] };
}

export function fixturesRoot(): string {
  const arg = process.argv.slice(2).find((a) => !a.startsWith('-'));
  const candidates = [
    arg,
    process.env.RAHF_PARITY_DIR,
    path.resolve('packages/reward/test/fixtures/parity'),
    path.resolve('test/fixtures/parity'),
  ].filter((c): c is string => Boolean(c));
  const found = candidates.find((c) => fs.existsSync(path.join(c, 'rahf')));
  if (!found) throw new Error(`gpu-check: no parity fixtures (looked in ${candidates.join(', ')}); run from the repo root or pass the fixtures directory`);
  return found;
}

export interface FixtureCase {
  name: string;
  dir: string;
  input: CaseInput;
  io: Map<string, HostTensor>;
}

export function fixtureCases(root: string): FixtureCase[] {
  const rahf = path.join(root, 'rahf');
  return fs
    .readdirSync(rahf, { withFileTypes: true })
    .filter((d) => d.isDirectory() && fs.existsSync(path.join(rahf, d.name, 'io.safetensors')))
    .map((d) => d.name)
    .sort()
    .map((name) => {
      const dir = path.join(rahf, name);
      const cfg = JSON.parse(fs.readFileSync(path.join(dir, 'config.json'), 'utf8'));
      const io = readSafetensors(path.join(dir, 'io.safetensors'));
      const px = nchwToNhwc(io.get('pixel_values_nchw')!);
      const mean = cfg.image_mean ?? 0.5;
      const std = cfg.image_std ?? 0.5;
      // The fixture pixels are normalised; the model's preprocess maps [0,1] back to exactly them.
      const pixels01 = px.data.map((v) => v * std + mean);
      const gen = io.get('generated_ids');
      return {
        name,
        dir,
        io,
        input: {
          pixels01,
          shape: px.shape,
          prompts: cfg.captions as string[],
          targets: cfg.target_text_for_loss as string[],
          keywordTokens: gen ? gen.shape[1] - 1 : 8,
        },
      };
    });
}

/** Kernels dispatched by the cpu runs of the fixtures (op and customGrad scope names filtered out later). */
export const usedKernels = new Set<string>();

/** Kernels RAHF dispatches (recorded on cpu, plus clipping and an AdamW step) that the target lacks. */
export async function kernelCoverage(): Promise<void> {
  await setBackend('cpu');
  const opt = new AdamW();
  const vars = new Map([
    ['a', tf.variable(tf.ones([3, 2]), true)],
    ['b', tf.variable(tf.ones([2]), true)],
  ]);
  const prof = await tf.profile(async () => {
    const { value, grads } = tf.variableGrads(() => tf.sum(tf.square(tf.add(vars.get('a')!, vars.get('b')!))) as tf.Scalar, [...vars.values()]);
    const byName = new Map([...vars].map(([k, v]) => [v.name, k]));
    const gm = new Map(Object.entries(grads).map(([n, g]) => [byName.get(n)!, g]));
    await clipGlobalNorm(gm, 1.0);
    opt.apply(vars, gm, 1e-3);
    tf.dispose([value, ...gm.values()]);
    return tf.scalar(0);
  });
  prof.kernelNames.forEach((n) => usedKernels.add(n));
  tf.dispose([...vars.values()]);
  opt.dispose();
  // Profiles also list op / customGrad scopes; real kernels are those the cpu backend has.
  const used = [...usedKernels].filter((n) => tf.getKernel(n, 'cpu')).sort();
  const missing = used.filter((n) => !tf.getKernel(n, TARGET));
  result.kernels = { used, missing_on_target: missing };
  log(`kernels used by RAHF: ${used.length}; missing on ${TARGET}: ${missing.length ? missing.join(', ') : 'none'}`);
  if (missing.length) failures.push(`kernels missing on ${TARGET}: ${missing.join(', ')}`);
}

/**
 * One fixture case on cpu (profiled: the kernels it dispatches) and on the target. Parameter gradients
 * only on the first image when asked: tfjs-backend-cpu's 4-D Slice is slow (the heatmap heads' filter
 * gradients take most of a minute per image here), and one image already runs every kernel.
 */
export async function fixtureParity(c: FixtureCase, paramGrads: boolean): Promise<void> {
  const rec: Json = {};
  (result.parity as Json)[c.name] = rec;
  const parts: Parts = { heatmaps: true, grad: true, keywords: true, seqLoss: true, paramGrads, paramGradBatch: 1 };
  const outs: Record<string, Outputs> = {};
  for (const b of ['cpu', TARGET]) {
    if (outs[b]) continue;
    await setBackend(b);
    const t0 = Date.now();
    const m = await RewardModel.load(c.dir, { trainable: true });
    try {
      if (b === 'cpu') {
        const prof = await tf.profile(async () => {
          outs[b] = await runCase(m, c.input, parts);
          return tf.scalar(0);
        });
        prof.kernelNames.forEach((n) => usedKernels.add(n));
      } else {
        outs[b] = await runCase(m, c.input, parts);
      }
    } finally {
      m.dispose();
    }
    rec[`${b}_s`] = r3((Date.now() - t0) / 1000);
    log(`${c.name}: ${b} done in ${((Date.now() - t0) / 1000).toFixed(1)} s`);
  }
  const cpu = outs.cpu;
  const tgt = outs[TARGET];
  const exp = (k: string) => c.io.get(k)!.data as Float32Array;
  const expScores = Float32Array.from(SCORE_NAMES.flatMap((t) => [...exp(`score_${t}`)]));
  const expHeat = Float32Array.from(HEATMAP_NAMES.flatMap((t) => [...exp(`heatmap_${t}`)]));
  check(`${c.name} cpu_scores_vs_reference`, compare(concatScores(cpu.scores), expScores).maxErr, 1e-4, rec);
  check(`${c.name} cpu_heatmaps_vs_reference`, compare(concatHeat(cpu.heatmaps!), expHeat).maxErr, 1e-4, rec);
  check(`${c.name} scores_vs_reference`, compare(concatScores(tgt.scores), expScores).maxErr, TOL_REF, rec);
  check(`${c.name} heatmaps_vs_reference`, compare(concatHeat(tgt.heatmaps!), expHeat).maxErr, TOL_REF, rec);
  check(`${c.name} scores_vs_cpu`, compare(concatScores(tgt.scores), concatScores(cpu.scores)).maxErr, TOL_REF, rec);
  check(`${c.name} heatmaps_vs_cpu`, compare(concatHeat(tgt.heatmaps!), concatHeat(cpu.heatmaps!)).maxErr, TOL_REF, rec);
  check(`${c.name} scoreGrad_scores_vs_reference`, compare(concatScores(tgt.gradScores!), expScores).maxErr, TOL_REF, rec);
  check(`${c.name} scoreGrad_rel_vs_cpu`, relErr(tgt.grad!, cpu.grad!), TOL_GRAD, rec);
  if (paramGrads) {
    const pg = paramGradErr(tgt.paramGrads!, cpu.paramGrads!);
    check(`${c.name} param_grads_rel_vs_cpu`, pg.err, TOL_GRAD, rec);
    rec.param_grads_worst = pg.worst;
    rec.param_grads_count = cpu.paramGrads!.size;
  }
  const loss = c.io.get('teacher_forced_seq_loss');
  if (loss && tgt.seqLoss !== undefined) {
    check(`${c.name} seq_loss_vs_reference`, compare([tgt.seqLoss], loss.data as Float32Array).maxErr, TOL_REF, rec);
  }
  const gen = c.io.get('generated_ids');
  if (gen && tgt.keywordIds) {
    const want = Array.from(gen.data as Int32Array);
    const got = tgt.keywordIds.flat();
    const same = got.length === want.length && got.every((v, i) => v === want[i]);
    rec.keyword_ids_match_reference = same;
    rec.keyword_ids_match_cpu = JSON.stringify(tgt.keywordIds) === JSON.stringify(cpu.keywordIds);
    if (!same) failures.push(`${c.name}: keyword ids differ from the reference`);
  }
  log(`${c.name}: ${JSON.stringify(rec)}`);
}
