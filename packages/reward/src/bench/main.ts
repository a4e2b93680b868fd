#!/usr/bin/env node
import * as tf from '@tensorflow/tfjs';
import yargs from 'yargs';
import { hideBin } from 'yargs/helpers';
import { initBackend } from '../backend';
import { RewardModel } from '../rahf/model';

// `pnpm bench`: timings of the reward model on this machine (a benchmark, never a test).
// Each figure is the median of `runs` timed runs after one warm-up run.

interface Figure {
  name: string;
  median_s: number;
  runs: number;
}

async function time(name: string, runs: number, fn: () => Promise<void>, log: (s: string) => void): Promise<Figure> {
  await fn(); // warm-up: kernel compilation, weight uploads
  const ts: number[] = [];
  for (let i = 0; i < runs; i++) {
    const t0 = process.hrtime.bigint();
    await fn();
    ts.push(Number(process.hrtime.bigint() - t0) / 1e9);
  }
  ts.sort((a, b) => a - b);
  const f = { name, median_s: ts[Math.floor(ts.length / 2)], runs };
  log(`${name.padEnd(34)} ${f.median_s.toFixed(3)} s  (median of ${runs})`);
  return f;
}

async function main(): Promise<void> {
  const argv = await yargs(hideBin(process.argv))
    .option('preset', { type: 'string', default: 'paper', choices: ['tiny', 'paper', 'large384'] })
    .option('backend', { type: 'string' })
    .option('runs', { type: 'number', default: 5 })
    .option('grad-runs', { type: 'number', default: 3, describe: 'runs for scoreGrad (slow without a fast backend)' })
    .option('json', { type: 'boolean', default: false })
    .strict()
    .parseAsync();
  const backend = await initBackend(argv.backend);
  const log = (s: string) => process.stderr.write(s + '\n');
  const model = await RewardModel.fromPreset(argv.preset, { seed: 0 });
  const size = model.config.imageSize;
  log(`preset ${argv.preset} (${size}x${size}), backend ${backend}, ${model.params.variables().reduce((a, v) => a + v.size, 0) / 1e6} M parameters`);
  const prompt = 'a photo of a red cat sitting on a blue sofa next to two green apples';
  const x1 = tf.randomUniform([1, size, size, 3]) as tf.Tensor4D;
  const figures: Figure[] = [];
  figures.push(
    await time('forward scores, batch 1', argv.runs, async () => {
      const r = model.forward(tf.sub(tf.mul(x1, 2), 1) as tf.Tensor4D, [prompt], { heatmaps: false });
      await Promise.all(Object.values(r.scores).map((t) => t.data()));
      tf.dispose(r as unknown as tf.TensorContainer);
    }, log),
  );
  figures.push(
    await time('forward scores + heatmaps, batch 1', Math.min(argv.runs, 3), async () => {
      const r = model.forward(tf.sub(tf.mul(x1, 2), 1) as tf.Tensor4D, [prompt], { heatmaps: true });
      await Promise.all(Object.values(r.heatmaps ?? {}).map((t) => t.data()));
      tf.dispose(r as unknown as tf.TensorContainer);
    }, log),
  );
  figures.push(
    await time('scoreGrad (aesthetics+overall), batch 1', argv['grad-runs'], async () => {
      const { grad } = await model.scoreGrad(x1, [prompt], { aesthetics: 1, overall: 1 });
      await grad.data();
      grad.dispose();
    }, log),
  );
  const rssMb = process.memoryUsage().rss / 2 ** 20;
  log(`peak-ish RSS ${rssMb.toFixed(0)} MB`);
  if (argv.json) {
    const out: Record<string, unknown> = { preset: argv.preset, backend, image_size: size, rss_mb: rssMb };
    for (const f of figures) out[f.name] = f.median_s;
    process.stdout.write(JSON.stringify(out) + '\n');
  }
  model.dispose();
}

main().catch((e) => {
  process.stderr.write(`bench: ${(e as Error).message}\n`);
  process.exitCode = 1;
});
