import * as tf from '@tensorflow/tfjs';
import { t5ConfigFromHF } from '../../models/t5';
import { vitConfigFromHF } from '../../models/vit';
import { Params } from '../../nn/params';
import { SCORE_NAMES, validateRahfConfig } from '../../rahf/config';
import { initRahfParams } from '../../rahf/init';
import { RewardModel } from '../../rahf/model';
import { getPreset } from '../../rahf/presets';
import { Tokenizer } from '../../tokenizer';
import { CaseInput, Parts, concatHeat, concatScores, runCase } from './cases';
import { Json, PAPER_PRESET, TARGET, TOL_GRAD, check, hostPixels, left, log, note, prompts, r3, relErr, result, save, setBackend } from './harness';

/**
 * A preset's layer widths (hidden sizes, heads, head channels) with fewer layers on a smaller input.
 * tfjs-backend-cpu is single-threaded and slow (~0.1–0.2 GFLOP/s here on 768-wide matMuls, even
 * less on convs): the paper model's forward at 224 px takes minutes, its scoreGrad about eight times
 * that. At 16 px (one patch, 16×16 heatmaps) with 2 ViT and 2 T5 layers every kernel still runs on
 * the same matrix and channel widths, in seconds. Built as fromPreset does.
 */
export function presetReduced(name: string, size: number, layers: number, tokenizerFile: string, seed: number): RewardModel {
  const preset = getPreset(name);
  preset.imageSize = size;
  preset.vitJson.image_size = size;
  preset.vitJson.num_hidden_layers = layers;
  preset.t5Json.num_layers = layers;
  preset.t5Json.num_decoder_layers = layers;
  const tokenizer = Tokenizer.fromFile(tokenizerFile);
  preset.t5Json.vocab_size = Math.ceil(tokenizer.vocabSize / 128) * 128;
  const config = validateRahfConfig({ ...preset, vit: vitConfigFromHF(preset.vitJson), t5: t5ConfigFromHF(preset.t5Json) });
  return RewardModel.fromParts(config, tokenizer, new Params(initRahfParams(config, seed)));
}

/**
 * A check of the full-size model that needs no cpu reference (its forward takes minutes there): a
 * batch of 4 gives row 0 the scores of the same image alone (prompts are masked, rows independent).
 * No finite-difference check of scoreGrad here: RAHF's channel RMS norms (eps 1e-8) after ReLUs make
 * the scores of a randomly initialised model nearly discontinuous (pixel steps of 1e-3 along the
 * gradient change S 50× more than the gradient predicts; single pixels agree at steps ≤ 3e-3), so
 * the gradient is compared with cpu on the reduced model instead.
 */
export async function selfChecks(m: RewardModel): Promise<void> {
  const rec: Json = {};
  (result.paper_parity as Json)[`${PAPER_PRESET}@${m.config.imageSize}px self-checks`] = rec;
  const s = m.config.imageSize;
  const n = s * s * 3;
  const px = hostPixels(4 * n, 21);
  const p1 = prompts(1);
  const scoresOf = async (data: Float32Array, b: number, pr: string[]) => {
    const x = tf.tidy(() => m.preprocess(tf.tensor4d(data, [b, s, s, 3])));
    const out = m.forward(x, pr, { heatmaps: false });
    const vals = await Promise.all(SCORE_NAMES.map((t) => out.scores[t].data()));
    tf.dispose([x, out as unknown as tf.TensorContainer]);
    return vals as Float32Array[];
  };
  const one = await scoresOf(px.subarray(0, n), 1, p1);
  const four = await scoresOf(px, 4, Array(4).fill(p1[0]));
  // Row mix-ups give O(1) errors; other matMul tilings for other batch sizes give ~1e-6.
  check(`${PAPER_PRESET} batch4_row0_vs_batch1`, relErr(Float32Array.from(four.map((v) => v[0])), Float32Array.from(one.map((v) => v[0]))), 1e-3, rec);
  log(`${PAPER_PRESET} self-checks: ${JSON.stringify(rec)}`);
}

export type Piece = [name: string, parts: Pick<Parts, 'heatmaps' | 'grad' | 'gradWeights' | 'noForward'>, costVsForward: number];

/**
 * Target vs cpu on one image, piece by piece, each only if the cpu side fits in the budget. The cpu
 * scores-only forward goes first; its time scales the estimates of the slower pieces.
 */
export async function paperParity(label: string, cpuModel: RewardModel, tgtModel: RewardModel, pieces: Piece[], guessS: number): Promise<void> {
  const rec: Json = {};
  (result.paper_parity as Json)[label] = rec;
  const s = cpuModel.config.imageSize;
  const inp: CaseInput = { pixels01: hostPixels(s * s * 3, 11), shape: [1, s, s, 3], prompts: prompts(1) };
  let cpuForwardS = guessS;
  for (const [name, p, factor] of pieces) {
    const est = cpuForwardS * factor * 1.3 + 5;
    if (left() < est) {
      note(`skipped ${label} parity "${name}": ${left().toFixed(0)} s left, cpu needs ~${est.toFixed(0)} s`);
      rec[name] = 'skipped (budget)';
      continue;
    }
    const parts = { ...p, keywords: false, seqLoss: false, paramGrads: false };
    await setBackend('cpu');
    const t0 = Date.now();
    const cpu = await runCase(cpuModel, inp, parts);
    const cpuS = (Date.now() - t0) / 1000;
    if (name === 'scores') cpuForwardS = cpuS;
    await setBackend(TARGET);
    const tgt = tgtModel === cpuModel ? cpu : await runCase(tgtModel, inp, parts);
    rec[`${name}_cpu_s`] = r3(cpuS);
    check(`${label} ${name}_scores_rel_vs_cpu`, relErr(concatScores(tgt.scores), concatScores(cpu.scores)), TOL_GRAD, rec);
    if (p.heatmaps) check(`${label} heatmaps_rel_vs_cpu`, relErr(concatHeat(tgt.heatmaps!), concatHeat(cpu.heatmaps!)), TOL_GRAD, rec);
    if (p.grad) check(`${label} scoreGrad_rel_vs_cpu`, relErr(tgt.grad!, cpu.grad!), TOL_GRAD, rec);
    log(`${label} parity ${name}: cpu ${cpuS.toFixed(1)} s; ${JSON.stringify(rec)}`);
    save();
  }
}
