import * as path from 'path';
import { exportDecoderOnnx, readVaeCheckpoint } from '../decoders';
import { packageFixturesDir } from './parity';
import { writeSdTinyFolder } from './sd-tiny';

/**
 * Runs a CLI in-process as its binary would (`run = () => cli(args).parseAsync()`), capturing stdout, stderr and
 * the exit code. Jest's sandbox makes the chart module's vega loader take Node's experimental vm path, which warns
 * once per process; that warning is no output of the program's and is dropped.
 */
export async function captureRun(run: () => Promise<unknown>): Promise<{ code: number; stdout: string; stderr: string }> {
  let stdout = '';
  let stderr = '';
  const out = jest.spyOn(process.stdout, 'write').mockImplementation((s) => ((stdout += String(s)), true));
  const err = jest.spyOn(process.stderr, 'write').mockImplementation((s) => ((stderr += String(s)), true));
  try {
    await run();
    stderr = stderr.replace(/^\(node:\d+\) ExperimentalWarning: vm\..*\n(\(Use `node --trace-warnings.*\n)?/m, '');
    return { code: Number(process.exitCode ?? 0), stdout, stderr };
  } finally {
    out.mockRestore();
    err.mockRestore();
    process.exitCode = undefined;
  }
}

/** An optimum-layout sd_tiny folder whose vae_decoder/ is exported from the vae_kl fixture (8×8 latents → 16 px). */
export async function writeSdTinyWithVae(dir: string): Promise<void> {
  const vae = await readVaeCheckpoint(path.join(packageFixturesDir(), 'vae_kl'));
  await writeSdTinyFolder(dir, { vaeDecoder: async (d) => exportDecoderOnnx(vae, path.join(d, 'model.onnx'), { withConfig: true }) });
}
