#!/usr/bin/env node
import * as fs from 'fs';
import * as os from 'os';
import * as path from 'path';
import * as ort from 'onnxruntime-node';
import { readGraph } from '../onnx/read-graph';
import { writeModel } from '../onnx/proto';

/*
 * `node packages/reward/dist/bench/session-memory.js MODEL.onnx [inline|external] [THREADS]`: what one
 * onnxruntime session of an exported RAHF graph costs — seconds to create it, resident memory after
 * creation and after one batch-1 run (peak and current, from /proc), and that run's time. With `inline`
 * or `external` the graph is first rewritten into a temporary folder with every weight inside the
 * protobuf or in a page-aligned `.data` file beside it (what the export cache writes), so the two
 * layouts can be compared on one graph. Each layout needs its own process (peaks do not reset).
 * A benchmark, never a test.
 */

function status(key: string): number {
  const m = new RegExp(`${key}:\\s+(\\d+) kB`).exec(fs.readFileSync('/proc/self/status', 'utf8'));
  return m ? Number(m[1]) / 1024 : NaN;
}

async function main(): Promise<void> {
  const [model, layout, threadsArg] = process.argv.slice(2);
  if (!model) throw new Error('usage: session-memory.js MODEL.onnx [inline|external] [THREADS]');
  let file = model;
  let tmp: string | undefined;
  if (layout === 'inline' || layout === 'external') {
    tmp = fs.mkdtempSync(path.join(os.tmpdir(), 'rahf-session-memory-'));
    const { graph, opset } = readGraph(model);
    file = path.join(tmp, 'model.onnx');
    writeModel({ graph, opset }, file, { externalDataThreshold: layout === 'external' ? 0 : Infinity });
  } else if (layout !== undefined) throw new Error(`layout must be inline or external, got "${layout}"`);
  try {
    const threads = Number(threadsArg ?? os.cpus().length);
    const base = status('VmRSS');
    let t0 = Date.now();
    const s = await ort.InferenceSession.create(file, { intraOpNumThreads: threads, interOpNumThreads: 1, executionMode: 'sequential', graphOptimizationLevel: 'all' });
    const createS = (Date.now() - t0) / 1000;
    const afterCreate = { rss_mb: status('VmRSS'), peak_mb: status('VmHWM') };
    const px = s.inputNames[0];
    const size = imageSize(model);
    const feeds: Record<string, ort.Tensor> = { [px]: new ort.Tensor('float32', Float32Array.from({ length: size * size * 3 }, (_, i) => Math.sin(i * 0.37) * 0.9), [1, size, size, 3]) };
    for (const n of s.inputNames.slice(1)) feeds[n] = new ort.Tensor('int64', new BigInt64Array(34).fill(5n), [1, 34]);
    t0 = Date.now();
    await s.run(feeds);
    const runS = (Date.now() - t0) / 1000;
    const out = {
      model,
      layout: layout ?? 'as written',
      threads,
      create_s: createS,
      node_rss_mb: base,
      after_create: afterCreate,
      after_run: { rss_mb: status('VmRSS'), peak_mb: status('VmHWM') },
      run_bs1_s: runS,
      load_avg: os.loadavg()[0],
    };
    process.stdout.write(JSON.stringify(out) + '\n');
    await s.release();
  } finally {
    if (tmp) fs.rmSync(tmp, { recursive: true, force: true });
  }
}

/** The model's input size, from the manifest beside the graph. */
function imageSize(model: string): number {
  const dir = path.dirname(model);
  const mf = fs.readdirSync(dir).find((f) => f.endsWith('.rahf.json'));
  if (!mf) throw new Error(`${dir}: no *.rahf.json manifest to read the image size from`);
  return (JSON.parse(fs.readFileSync(path.join(dir, mf), 'utf8')) as { pixels: { size: number } }).pixels.size;
}

main().catch((e) => {
  process.stderr.write(`session-memory: ${(e as Error).message}\n`);
  process.exitCode = 1;
});
