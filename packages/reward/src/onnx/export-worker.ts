import * as fs from 'fs';
import * as path from 'path';
import { initBackend } from '../backend';
import { UserError } from '../errors';
import { RewardModel } from '../rahf/model';
import { exportRahf } from './export';

/*
 * One cache export in its own process (export-cache.ts forks this file): the checkpoint is loaded into
 * tfjs, written as ONNX graphs into the given folder, and the process ends. Loading and exporting the
 * paper preset peaks at several GB (the tfjs weights, their host copies, the encoded graphs); in a
 * process of its own that memory is returned to the system when the export ends, so the process that
 * scores afterwards holds only the onnxruntime sessions. tfjs runs on its 'cpu' backend here: the
 * export only reads weights, and that backend hands out its own arrays instead of copies out of a
 * wasm heap (which never shrinks).
 *
 * Messages to the parent: {type: 'loaded'} once the checkpoint loaded, {type: 'log', line},
 * {type: 'done'}, or {type: 'error', message, user, exitCode, stack}.
 */

export interface ExportJob {
  checkpoint: string;
  /** The folder to write (a temporary folder inside the cache; the parent renames it into place). */
  out: string;
  int8?: boolean;
}

export type WorkerMessage =
  | { type: 'loaded' }
  | { type: 'log'; line: string }
  | { type: 'done' }
  | { type: 'error'; message: string; user: boolean; exitCode: number; stack?: string };

/** The export itself (also run in-process where no worker can be forked). */
export async function runExportJob(job: ExportJob, send: (m: WorkerMessage) => void): Promise<void> {
  const model = await RewardModel.load(job.checkpoint);
  send({ type: 'loaded' });
  try {
    exportRahf(model, path.join(job.out, 'model.onnx'), {
      heatmaps: true,
      quantize: job.int8 ? 'int8' : undefined,
      // Every weight in a `.data` file beside its graph, page-aligned: onnxruntime maps it instead of
      // parsing it out of the protobuf, which for large384's scores graph took the session's peak RSS
      // from 2.7 GB to 1.9 GB and its creation from 9.6 s to 5.7 s (same outputs).
      externalDataThreshold: 0,
      log: (line) => send({ type: 'log', line }),
    });
  } finally {
    model.dispose();
  }
}

async function main(): Promise<void> {
  const send = (m: WorkerMessage) => new Promise<void>((resolve) => (process.send ? process.send(m, () => resolve()) : resolve()));
  const job = JSON.parse(process.argv[2]) as ExportJob;
  // The parent gone (killed): stop at the next graph rather than finish an export nobody renames, and
  // remove the folder (named for that parent alone; export-cache.ts sweeps it otherwise).
  const orphaned = () => {
    fs.rmSync(job.out, { recursive: true, force: true });
    process.exit(3);
  };
  process.on('disconnect', orphaned);
  let last: WorkerMessage = { type: 'done' };
  try {
    await initBackend('cpu', { quiet: true });
    await runExportJob(job, (m) => (process.connected ? void send(m) : orphaned()));
  } catch (e) {
    const err = e as Error;
    last = { type: 'error', message: String(err?.message ?? e), user: e instanceof UserError, exitCode: e instanceof UserError ? e.exitCode : 1, stack: err?.stack };
  }
  if (!process.connected) orphaned();
  await send(last);
  process.off('disconnect', orphaned);
  process.exit(last.type === 'done' ? 0 : 1);
}

if (require.main === module) void main();
