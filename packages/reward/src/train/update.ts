import * as tf from '@tensorflow/tfjs';
import { RewardModel } from '../rahf/model';
import { HostBatch, disposeBatch, toTensors } from './data';
import { clipGlobalNormHost, HostAdamW } from './host-adamw';
import { LOSS_PARTS, LossPart, multiTaskLoss } from './loss';
import { AdamW, clipGlobalNorm } from './optimizer';
import { TrainOptions } from './options';
import { OrtTrainEngine } from './ort-engine';

/*
 * One optimizer update of the training loop on either engine. `started` runs once the step's work is
 * queued, so the loop can prepare the next batch meanwhile. A non-finite loss comes back without an
 * update (the loop stops the run).
 */

export interface UpdateResult {
  loss: number;
  partVals: Partial<Record<LossPart, number>>;
  gradNorm: number;
}

/** One update on the ORT engine: loss and host gradients from onnxruntime, clipped and applied on the host, assigned back. */
export async function ortUpdate(
  ort: OrtTrainEngine,
  hb: HostBatch,
  model: RewardModel,
  opt: HostAdamW,
  o: TrainOptions,
  lr: number,
  lrScale: ((name: string) => number) | undefined,
  started: () => void,
): Promise<UpdateResult> {
  const run = ort.step(hb);
  started();
  const r = await run;
  if (!Number.isFinite(r.loss)) return { loss: r.loss, partVals: r.parts, gradNorm: NaN };
  const vars = model.params.tensors;
  const gradNorm = clipGlobalNormHost(r.grads, o.clipNorm);
  const params = new Map([...r.grads.keys()].map((k) => [k, { data: (vars.get(k)!.dataSync() as Float32Array).slice(), shape: vars.get(k)!.shape }]));
  opt.apply(params, r.grads, lr, lrScale);
  for (const [k, p] of params) {
    const t = tf.tensor(p.data, p.shape, 'float32');
    vars.get(k)!.assign(t);
    t.dispose();
  }
  return { loss: r.loss, partVals: r.parts, gradNorm };
}

/** One update on tfjs: tf.variableGrads of the loss, clipped, AdamW. */
export async function tfjsUpdate(
  model: RewardModel,
  hb: HostBatch,
  o: TrainOptions,
  varList: tf.Variable[],
  byVarName: Map<string, string>,
  opt: AdamW,
  lr: number,
  lrScale: ((name: string) => number) | undefined,
  started: () => void,
): Promise<UpdateResult> {
  const r = await tfjsStep(model, hb, o, varList, byVarName, started);
  try {
    if (!Number.isFinite(r.loss)) return { loss: r.loss, partVals: r.partVals, gradNorm: NaN };
    const gradNorm = await clipGlobalNorm(r.gradMap, o.clipNorm);
    opt.apply(model.params.tensors, r.gradMap, lr, lrScale);
    return { loss: r.loss, partVals: r.partVals, gradNorm };
  } finally {
    tf.dispose([...r.gradMap.values()]);
  }
}

interface StepOutput {
  loss: number;
  partVals: Partial<Record<LossPart, number>>;
  /** Gradients by parameter name (caller disposes). */
  gradMap: Map<string, tf.Tensor>;
}

/** Loss and gradients with tf.variableGrads; `started` runs once the step's work is queued. */
async function tfjsStep(
  model: RewardModel,
  hb: HostBatch,
  o: TrainOptions,
  varList: tf.Variable[],
  byVarName: Map<string, string>,
  started: () => void,
): Promise<StepOutput> {
  const tb = toTensors(hb);
  const parts: Partial<Record<LossPart, tf.Scalar>> = {};
  const { value, grads } = tf.variableGrads(() => {
    const out = multiTaskLoss(model, tb, o.lossWeights, { heatmapLoss: o.heatmapLoss });
    for (const p of LOSS_PARTS) if (out.parts[p]) parts[p] = tf.keep(out.parts[p]!);
    return out.total;
  }, varList);
  started();
  const gradMap = new Map<string, tf.Tensor>();
  for (const [vn, g] of Object.entries(grads)) gradMap.set(byVarName.get(vn)!, g);
  const loss = (await value.data())[0];
  const partVals: Partial<Record<LossPart, number>> = {};
  for (const p of LOSS_PARTS) if (parts[p]) partVals[p] = (await parts[p]!.data())[0];
  tf.dispose([value, ...Object.values(parts)]);
  disposeBatch(tb);
  return { loss, partVals, gradMap };
}

