/**
 * GPU check of the differentiable RAHF model on tfjs-backend-webgpu (Dawn in Node). A dev tool for the
 * lent GPU machine, not a test: scripts/build-gpu-check.sh bundles it (src/bench/gpu-check/main.ts) into .gpu-carry/app/gpu-check.js,
 * which runs there as `bash .gpu-carry/run.sh .gpu-carry/app/gpu-check.js [fixturesDir]` from the repo
 * root (the parity fixtures travel with the repo copy). In order:
 *
 *   a. initialise webgpu through src/backend.ts (exit 2 with its one-line error without an adapter);
 *   b. the RAHF parity fixtures on cpu (profiled: the kernels RAHF dispatches) and on the target:
 *      scores / heatmaps / keyword ids / sequence loss vs the PyTorch reference, scoreGrad and (for the
 *      multi-head case, one image) every parameter's gradient of a multi-task loss vs cpu; then every
 *      kernel used (plus an Adam step's) must be registered on the target;
 *   c. timings on the target (median of GPU_CHECK_RUNS ≥ 5 after a warm-up): a tiny-preset training
 *      step (batch 4); on webgpu a settings sweep on the paper preset (bench/gpu-check/sweep.ts: matMul and
 *      conv programs, weight transposes, fused norm / GELU / softmax kernels, tfjs-backend-webgpu
 *      flags; each setting's outputs checked
 *      against the previous defaults'), whose winner stays applied for the rest; the paper preset
 *      (random weights): scores-only forward at batch 1 and 32, forward with heatmaps at batch 1,
 *      scoreGrad at batch 1; then GPU time per kernel of one batch-32 forward (tf.profile);
 *   d. paper-size numerics: batch-4 vs batch-1 consistency of the full model on the target, and
 *      target vs cpu on the paper preset's widths with 2 layers at 16 px (cpu is far too slow for
 *      the full model: minutes per forward) — scores, heatmaps, scoreGrad; the full model's scores
 *      vs cpu only when the budget leaves room;
 *   e. one JSON line on stdout at the end, also written to $OUT/gpu-check.json after every part; an
 *      overall budget (GPU_CHECK_BUDGET_S, default 420 s): parts that no longer fit are skipped with a
 *      note. A part that throws is recorded as a failure and the next part runs. Exit code 0 when
 *      every check passed, 1 otherwise, 2 without webgpu, 3 when the budget watchdog fired.
 *
 * Environment: GPU_CHECK_BACKEND (default webgpu; `cpu` is the dry run for machines without a GPU:
 * every step runs with cpu as the target, the paper-sized parts only with GPU_CHECK_PAPER=1),
 * GPU_CHECK_BUDGET_S, GPU_CHECK_RUNS (timed runs, default 5), GPU_CHECK_SWEEP (0: no settings sweep),
 * GPU_CHECK_PARTS (a comma-separated
 * subset of fixtures,train,timings,parity; paper = timings,parity), GPU_CHECK_PARITY_SIZE and
 * GPU_CHECK_PARITY_LAYERS (input side and depth of the paper-width parity model, default 16 px, 2
 * layers), GPU_CHECK_TRAIN_BATCH (default 4), GPU_CHECK_PRESET (the large model, default paper),
 * RAHF_DAWN_OPTIONS (Dawn toggles; `backend=null` runs the webgpu code path without a GPU, computing
 * garbage, with 512 MB of device memory: use GPU_CHECK_PRESET=tiny GPU_CHECK_TRAIN_BATCH=1), OUT.
 *
 * Reads results with `await t.data()` only: dataSync() of a webgpu tensor needs OffscreenCanvas,
 * which Node lacks.
 */
import * as path from 'path';
import * as tf from '@tensorflow/tfjs';
import { initBackend } from '../../backend';
import { webgpuAdapterDescription } from '../../backend-webgpu';
import { RewardModel } from '../../rahf/model';
import { hostModel, modelFromHost } from './cases';
import { fixtureCases, fixtureParity, fixturesRoot, kernelCoverage } from './fixtures';
import { BUDGET_S, DRY, PAPER, PAPER_PRESET, PARTS, RUNS, SWEEP, TARGET, failures, gpuErrors, left, log, note, part, r3, result, save, setBackend } from './harness';
import { Piece, paperParity, presetReduced, selfChecks } from './paper-parity';
import { paperTimings, profileForward, settingsSweep, trainTiming, webgpuSettings } from './timings';

/** The parts of a tfjs-backend-webgpu device the check listens to. */
interface GpuDeviceLike {
  limits?: Record<string, number>;
  onuncapturederror: ((ev: { error?: { message?: string } }) => void) | null;
  lost?: Promise<{ reason?: string; message?: string }>;
}

let gpuErrorCount = 0;

async function main(): Promise<void> {
  // Last resort if one step overruns: keep what was measured. (Cannot interrupt synchronous cpu work.)
  setTimeout(() => {
    note(`aborted: over budget by 45 s`);
    result.failures = failures;
    save();
    process.stdout.write(JSON.stringify(result) + '\n');
    process.exit(3);
  }, (BUDGET_S + 45) * 1000).unref();
  log(`target ${TARGET}, budget ${BUDGET_S} s, ${RUNS} timed runs${DRY ? ' (cpu dry run)' : ''}`);
  const root = fixturesRoot();
  const tokenizer = path.join(root, 'rahf', 't5', 'tokenizer.json');

  // a. the target backend, through the project's own selection code.
  try {
    await initBackend(TARGET, { quiet: true });
  } catch (e) {
    result.error = (e as Error).message;
    save();
    process.stderr.write(`gpu-check: ${(e as Error).message}\n`);
    process.stdout.write(JSON.stringify(result) + '\n');
    process.exit(2);
  }
  result.backend = tf.getBackend();
  result.adapter = webgpuAdapterDescription() ?? null;
  if (TARGET === 'webgpu') {
    const be = tf.backend() as unknown as { device?: GpuDeviceLike };
    const dev = be.device;
    // Validation / out-of-memory errors and device loss surface as bare OperationErrors in tfjs.
    if (dev) {
      dev.onuncapturederror = (ev) => {
        // One bad allocation cascades into many invalid-object errors: keep the first few.
        const msg = (ev.error?.message ?? String(ev)).split('\n').slice(0, 3).join(' | ');
        gpuErrorCount++;
        if (gpuErrors.length < 8) {
          gpuErrors.push(msg);
          log(`webgpu error: ${msg}`);
        }
        result.gpu_error_count = gpuErrorCount;
      };
      dev.lost?.then((info) => {
        gpuErrors.push(`device lost: ${info.reason ?? ''} ${info.message ?? ''}`);
        log(`webgpu device lost: ${info.reason ?? ''} ${info.message ?? ''}`);
      });
    }
    const feats = (dev as unknown as { features?: Iterable<string> })?.features;
    if (feats) result.device_features = [...feats].sort();
    const l = dev?.limits;
    if (l) result.device_limits = { maxBufferSize: l.maxBufferSize, maxStorageBufferBindingSize: l.maxStorageBufferBindingSize };
    result.webgpu_settings_initial = webgpuSettings();
  }
  log(`backend ${result.backend}${result.adapter ? ` on ${result.adapter}` : ''}`);
  save();

  // b. fixtures (tiny models) on cpu and the target, and the kernels they dispatch.
  const cases = fixtureCases(root);
  if (cases.length === 0) throw new Error(`gpu-check: no RAHF fixture cases under ${path.join(root, 'rahf')}`);
  if (PARTS.has('fixtures')) {
    for (const c of cases) {
      // All parameter gradients for the multi-head case (the public checkpoint's layout) only.
      await part(`parity ${c.name}`, () => fixtureParity(c, c.name.includes('multi') || cases.length === 1));
    }
    await part('kernel coverage', kernelCoverage);
  }

  // c. timings on the target: a training step of the tiny preset, then the paper preset.
  if (PARTS.has('train')) await part('tiny train step', async () => {
    await setBackend(TARGET);
    const tiny = await RewardModel.fromPreset('tiny', { seed: 0, tokenizer, trainable: true });
    try {
      await trainTiming(tiny);
    } finally {
      tiny.dispose();
    }
  });

  if (!PARTS.has('timings') && !PARTS.has('parity')) {
    note('paper preset not asked for (GPU_CHECK_PARTS)');
  } else if (!PAPER) {
    note('paper preset skipped in the cpu dry run (GPU_CHECK_PAPER=1 runs it)');
  } else if (left() < 60) {
    note(`paper preset skipped: ${left().toFixed(0)} s left`);
  } else {
    const small = Number(process.env.GPU_CHECK_PARITY_SIZE ?? 16);
    const layers = Number(process.env.GPU_CHECK_PARITY_LAYERS ?? 2);
    await part('paper preset', async () => {
      // Built on cpu (seeded random weights), then the same variables on the target.
      await setBackend('cpu');
      const t0 = Date.now();
      const paperCpu = await RewardModel.fromPreset(PAPER_PRESET, { seed: 0, tokenizer });
      let paperTgt: RewardModel | undefined;
      try {
        const initS = (Date.now() - t0) / 1000;
        result.paper = { preset: PAPER_PRESET, params_m: r3(paperCpu.numParams / 1e6), image_size: paperCpu.config.imageSize, init_s: r3(initS) };
        log(`${PAPER_PRESET} preset: ${(paperCpu.numParams / 1e6).toFixed(1)} M parameters, initialised in ${initS.toFixed(1)} s`);
        await setBackend(TARGET);
        paperTgt = DRY ? paperCpu : modelFromHost(await hostModel(paperCpu), false);
        if (PARTS.has('timings') && TARGET === 'webgpu' && SWEEP) await part('settings sweep', () => settingsSweep(paperTgt!));
        if (PARTS.has('timings')) await part('paper timings', () => paperTimings(paperTgt!));
        if (PARTS.has('timings') && TARGET === 'webgpu' && left() > 120) {
          // Diagnostics only: a profiler problem is a note, not a failed check.
          await profileForward(paperTgt!, 32).catch((e) => note(`profile failed: ${(e as Error).message?.split('\n')[0]}`));
          save();
        }
        result.webgpu_settings_final = TARGET === 'webgpu' ? webgpuSettings() : null;
        if (!PARTS.has('parity')) return;
        if (!DRY || PAPER_PRESET !== 'paper') await part('paper self-checks', () => selfChecks(paperTgt!));
        // Parity on the preset's widths at a small input first (affordable on cpu); the full model's
        // scores only when a large budget leaves room for minutes of cpu.
        const label = `${PAPER_PRESET}-widths@${small}px/${layers}layers`;
        await part(`parity ${label}`, async () => {
          await setBackend('cpu');
          const smallCpu = presetReduced(PAPER_PRESET, small, layers, tokenizer, 0);
          await setBackend(TARGET);
          const smallTgt = DRY ? smallCpu : modelFromHost(await hostModel(smallCpu), false);
          try {
            const pieces: Piece[] = [
              ['scores', { heatmaps: false, grad: false }, 1],
              ['heatmaps', { heatmaps: true, grad: false }, 2],
              // One score's head in the backward pass: cpu's conv input-gradient (Reverse of 768-wide
              // filters) is what makes four heads slow; the trunk's backward is shared by all.
              ['scoreGrad', { heatmaps: false, grad: true, gradWeights: { overall: 1 }, noForward: true }, 4],
            ];
            await paperParity(label, smallCpu, smallTgt, pieces, 10);
          } finally {
            if (smallTgt !== smallCpu) smallTgt.dispose();
            smallCpu.dispose();
          }
        });
        const full = `${PAPER_PRESET}@${paperCpu.config.imageSize}px`;
        await part(`parity ${full}`, () => paperParity(full, paperCpu, paperTgt!, [['scores', { heatmaps: false, grad: false }, 1]], 300));
      } finally {
        if (paperTgt && paperTgt !== paperCpu) paperTgt.dispose();
        paperCpu.dispose();
      }
    });
  }

  result.failures = failures;
  result.ok = failures.length === 0;
  save();
  log(result.ok ? 'all checks passed' : `FAILED: ${failures.join('; ')}`);
  process.stdout.write(JSON.stringify(result) + '\n');
  process.exitCode = result.ok ? 0 : 1;
}

main().catch((e) => {
  result.error = (e as Error).stack?.split('\n').slice(0, 4).join(' | ') ?? String(e);
  result.failures = failures;
  save();
  process.stderr.write(`gpu-check: ${(e as Error).message}\n`);
  process.stdout.write(JSON.stringify(result) + '\n');
  process.exit(1);
});

