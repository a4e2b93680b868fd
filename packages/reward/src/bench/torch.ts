import { spawnSync } from 'child_process';
import * as fs from 'fs';
import * as path from 'path';

/*
 * The same-machine PyTorch reference: scripts/torch-reference.py times a network with the paper
 * preset's forward FLOPs in the machine's PyTorch (Debian: python3-torch, BLAS through OpenBLAS). Run
 * only when a Python with torch is found; otherwise the bench says why and goes on.
 */

export interface TorchFigures {
  python: string;
  torch: string;
  threads: number;
  blas: string;
  forward_bs1_s: number;
  forward_bs8_img_per_s: number;
  vit_bs1_s: number;
  scoregrad_bs1_s?: number;
}

const SCRIPT = path.join(__dirname, '..', '..', 'scripts', 'torch-reference.py');

/** Interpreters tried in order: $RAHF_TORCH_PYTHON, Debian's system python (where python3-torch installs), python3. */
function candidates(): string[] {
  return [process.env.RAHF_TORCH_PYTHON, '/usr/bin/python3', 'python3'].filter((p): p is string => !!p);
}

export function benchTorch(opts: { threads: number; runs: number; tokens: number; grad: boolean; log: (s: string) => void }): TorchFigures | { skipped: string } {
  for (const py of candidates()) {
    if (py.includes('/') && !fs.existsSync(py)) continue;
    const probe = spawnSync(py, ['-c', 'import torch'], { encoding: 'utf8' });
    if (probe.status !== 0) continue;
    const args = [SCRIPT, '--threads', String(opts.threads), '--runs', String(opts.runs), '--tokens', String(opts.tokens)];
    if (opts.grad) args.push('--grad');
    const r = spawnSync(py, args, { encoding: 'utf8', timeout: 15 * 60_000 });
    const line = (r.stdout ?? '').trim().split('\n').pop() ?? '';
    if (r.status !== 0 || !line.startsWith('{')) return { skipped: `${py} ${SCRIPT} failed: ${(r.stderr || String(r.error ?? '')).trim().split('\n').pop()}` };
    const j = JSON.parse(line);
    return {
      python: py,
      torch: j.torch,
      threads: j.threads,
      blas: j.blas,
      forward_bs1_s: j.forward_bs1.median_s,
      forward_bs8_img_per_s: j.forward_bs8_img_per_s,
      vit_bs1_s: j.vit_bs1.median_s,
      scoregrad_bs1_s: j.scoregrad_bs1?.median_s,
    };
  }
  return { skipped: `no Python with torch (tried ${candidates().join(', ')}; Debian: apt-get install python3-torch libopenblas0-pthread)` };
}
