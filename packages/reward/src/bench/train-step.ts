/**
 * Training-step benchmark: one optimizer step of a preset (random init, synthetic batch) on the tfjs
 * engine (tf.variableGrads + tfjs AdamW) and the ORT engine (onnxruntime-node forward + autodiff
 * backward, host AdamW), as `rahf train` runs them. Prints wall time (median), images/s and process CPU
 * time per step; CPU time is the steadier figure on a machine shared with other jobs.
 *
 *   node dist/bench/train-step.js [--preset tiny] [--batch 8] [--steps 5] [--engines ort,tfjs]
 *                                 [--weights heatmap=10,score=1,keywords=0.2] [--threads N]
 */
import * as os from 'os';
import * as tf from '@tensorflow/tfjs';
import { initBackend } from '../backend';
import { HEATMAP_NAMES, heatmapSize } from '../rahf/config';
import { RewardModel } from '../rahf/model';
import { TRAIN_DEFAULTS } from '../train/options';
import { HostBatch, toTensors, disposeBatch } from '../train/data';
import { clipGlobalNormHost, HostAdamW } from '../train/host-adamw';
import { LossWeights, multiTaskLoss, parseLossWeights } from '../train/loss';
import { AdamW, clipGlobalNorm } from '../train/optimizer';
import { OrtTrainEngine } from '../train/ort-engine';
import { synthTokenizerFile } from '../train/tokenizer-build';

function arg(name: string, dflt: string): string {
  const i = process.argv.indexOf(`--${name}`);
  return i >= 0 && i + 1 < process.argv.length ? process.argv[i + 1] : dflt;
}

function batch(model: RewardModel, b: number): HostBatch {
  const s = model.config.imageSize;
  const h = heatmapSize(model.config);
  let x = 12345;
  const rnd = () => ((x = (x * 1103515245 + 12345) >>> 0) / 2 ** 32);
  const maps = Object.fromEntries(HEATMAP_NAMES.map((n) => [n, Float32Array.from({ length: b * h * h }, () => (rnd() < 0.7 ? 0 : rnd()))]));
  const prompts = Array.from({ length: b }, (_, i) => `a ${['red', 'green', 'blue'][i % 3]} cube next to ${i + 2} small spheres on a wooden table`);
  return {
    size: b,
    imageSize: s,
    heatmapSize: h,
    pixels: Float32Array.from({ length: b * s * s * 3 }, () => rnd() * 2 - 1),
    prompts,
    targets: prompts.map((p) => p.replace('cube', 'cube_0')),
    uids: prompts.map((_, i) => String(i)),
    scores: Float32Array.from({ length: b * 4 }, rnd),
    maps: maps as HostBatch['maps'],
  };
}

async function time(steps: number, step: () => Promise<void>): Promise<{ wall: number; cpu: number }> {
  await step(); // warm-up
  const walls: number[] = [];
  const cpus: number[] = [];
  for (let i = 0; i < steps; i++) {
    const t = process.hrtime.bigint();
    const c0 = process.cpuUsage();
    await step();
    const c = process.cpuUsage(c0);
    walls.push(Number(process.hrtime.bigint() - t) / 1e9);
    cpus.push((c.user + c.system) / 1e6);
  }
  const med = (a: number[]) => [...a].sort((p, q) => p - q)[Math.floor(a.length / 2)];
  return { wall: med(walls), cpu: med(cpus) };
}

export interface TrainStepBenchOptions {
  preset?: string;
  batch?: number;
  steps?: number;
  engines?: string[];
  weights?: LossWeights;
  threads?: number;
  log?: (line: string) => void;
}

/** Median wall and CPU seconds of one training step per engine (`ort`, `tfjs`). */
export async function benchTrainStep(o: TrainStepBenchOptions = {}): Promise<Record<string, { wall: number; cpu: number; img_per_s: number }>> {
  const preset = o.preset ?? 'tiny';
  const b = o.batch ?? 8;
  const steps = o.steps ?? 5;
  const engines = o.engines ?? ['ort', 'tfjs'];
  const weights = o.weights ?? TRAIN_DEFAULTS.lossWeights;
  const threads = o.threads ?? os.cpus().length;
  const log = o.log ?? ((l: string) => console.log(l));
  const heatmapLoss = TRAIN_DEFAULTS.heatmapLoss;
  const model = await RewardModel.fromPreset(preset, { tokenizer: synthTokenizerFile(), seed: 0, trainable: true });
  const out: Record<string, { wall: number; cpu: number; img_per_s: number }> = {};
  try {
    const hb = batch(model, b);
    const vars = model.params.tensors;
    const names = [...vars.keys()];
    const w = `heatmap=${weights.heatmap},score=${weights.score},keywords=${weights.keywords}`;
    log(`train step: preset ${preset}, batch ${b}, loss weights ${w}, ${os.cpus().length} cores, load average ${os.loadavg()[0].toFixed(2)}`);
    for (const engine of engines) {
      let r: { wall: number; cpu: number };
      if (engine === 'ort') {
        const len = (t: string[]) => Math.max(...t.map((s) => model.tokenizer.encode(s).length));
        const ort = await OrtTrainEngine.create(model, { batch: b, textLen: len(hb.prompts), targetLen: len(hb.targets), weights, heatmapLoss, trainable: names, threads });
        const opt = new HostAdamW();
        r = await time(steps, async () => {
          const res = await ort.step(hb);
          clipGlobalNormHost(res.grads, 1);
          const params = new Map([...res.grads.keys()].map((k) => [k, { data: (vars.get(k)!.dataSync() as Float32Array).slice(), shape: vars.get(k)!.shape }]));
          opt.apply(params, res.grads, 1e-5);
          for (const [k, p] of params) {
            const t = tf.tensor(p.data, p.shape, 'float32');
            vars.get(k)!.assign(t);
            t.dispose();
          }
        });
        await ort.release();
      } else if (engine === 'tfjs') {
        const opt = new AdamW();
        const list = names.map((k) => vars.get(k)!);
        const byVar = new Map(names.map((k) => [vars.get(k)!.name, k]));
        r = await time(steps, async () => {
          const tb = toTensors(hb);
          const { value, grads } = tf.variableGrads(() => multiTaskLoss(model, tb, weights, { heatmapLoss }).total, list);
          const g = new Map(Object.entries(grads).map(([vn, t]) => [byVar.get(vn)!, t as tf.Tensor]));
          await clipGlobalNorm(g, 1);
          opt.apply(vars, g, 1e-5);
          tf.dispose([value, ...g.values()]);
          disposeBatch(tb);
        });
        opt.dispose();
      } else throw new Error(`--engines: unknown engine "${engine}" (ort, tfjs)`);
      out[engine] = { ...r, img_per_s: b / r.wall };
      log(`train step ${engine.padEnd(5)} ${r.wall.toFixed(3)} s/step (median of ${steps})  ${(b / r.wall).toFixed(2)} img/s  cpu ${r.cpu.toFixed(3)} s/step`);
    }
  } finally {
    model.dispose();
  }
  return out;
}

async function main(): Promise<void> {
  await initBackend();
  await benchTrainStep({
    preset: arg('preset', 'tiny'),
    batch: Number(arg('batch', '8')),
    steps: Number(arg('steps', '5')),
    engines: arg('engines', 'ort,tfjs').split(','),
    weights: parseLossWeights(arg('weights', ''), TRAIN_DEFAULTS.lossWeights),
    threads: Number(arg('threads', String(os.cpus().length))),
  });
}

if (require.main === module) {
  main().catch((e) => {
    console.error(`train-step bench: ${(e as Error).message}`);
    process.exit(1);
  });
}
