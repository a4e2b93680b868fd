/**
 * Execute a tslab notebook headless, in this process, with tslab's own converter and executor — the
 * same code path as its Jupyter kernel (tslab/src/main.ts startKernel + jupyter.ts handleExecuteImpl),
 * minus ZeroMQ and Jupyter. Why not `jupyter nbconvert --execute`: that needs Python, Jupyter and a
 * registered kernel on every machine; this needs only `pnpm install`, so a newcomer's
 * `pnpm install && pnpm test` runs the notebooks too. What it shares with the kernel: each cell is
 * type-checked and compiled by tslab's TypeScript, runs in the kernel's module scope with top-level
 * await, sees the declarations of earlier cells, and `import * as tslab from 'tslab'` displays work.
 *
 * One notebook per process (like one kernel per notebook): the executor hooks process-wide state
 * (stdout, the working directory, tslab's display sink).
 */
import * as path from 'path';
import { format } from 'util';
import { createConverter } from 'tslab/dist/converter';
import { createExecutor, type ConverterSet } from 'tslab/dist/executor';
import { cellSource, type Notebook, type Output } from './notebook';

export interface CellReport {
  /** 1-based index among all cells (as Jupyter shows them). */
  cell: number;
  seconds: number;
  ok: boolean;
  /** The cell's stderr (tslab prints compile errors and exceptions there). */
  stderr: string;
  /** For a failed cell: the error's line ("Error: boom", "3:7 - Type 'string' is not assignable …"). */
  error?: string;
}

/**
 * The line of a failed cell's stderr that names the error, not the "evalmachine.<anonymous>:2" locator
 * Node prints above a thrown error.
 */
export function errorHeadline(stderr: string): string {
  const lines = stderr.split('\n').map((l) => l.trim());
  return lines.find((l) => /^(\w*(Error|Exception)\b|\d+:\d+ - )/.test(l)) ?? (lines.find((l) => l.length > 0) || 'cell failed');
}

export interface NotebookRun {
  ok: boolean;
  /** The notebook with outputs and execution counts, as Jupyter would save it after "Run all". */
  executed: Notebook;
  cells: CellReport[];
  /** The failing cell, if any; later cells are not run (as nbconvert without --allow-errors). */
  failed?: CellReport;
  seconds: number;
}

export interface RunOptions {
  /** Called after each code cell. */
  onCell?: (r: CellReport, codeCells: number) => void;
}

type DisplayData = { data: Record<string, string>; metadata?: Record<string, unknown> };
interface TslabJupyter {
  lastWriteDisplayData: ((d: DisplayData, update: boolean) => void) | null;
}

function lazyConverters(): ConverterSet {
  let node: ReturnType<typeof createConverter> | undefined;
  let browser: ReturnType<typeof createConverter> | undefined;
  return {
    get node() {
      return (node ??= createConverter({ isJS: false, isBrowser: false }));
    },
    get browser() {
      return (browser ??= createConverter({ isJS: false, isBrowser: true }));
    },
    close() {
      node?.close();
      browser?.close();
    },
  };
}

/** Run every code cell of `nb` (read from `file`) in order, stopping at the first failing one. */
export async function runNotebook(file: string, nb: Notebook, opts: RunOptions = {}): Promise<NotebookRun> {
  const t0 = Date.now();
  // The kernel starts in the notebook's folder: relative paths and module resolution start there.
  process.chdir(path.dirname(path.resolve(file)));
  const convs = lazyConverters();
  const executed: Notebook = JSON.parse(JSON.stringify(nb)) as Notebook;
  let outputs: Output[] = [];
  let stderr = '';
  const stream = (name: 'stdout' | 'stderr', text: string) => {
    if (name === 'stderr') stderr += text;
    const last = outputs[outputs.length - 1];
    if (last?.output_type === 'stream' && last.name === name) last.text += text;
    else outputs.push({ output_type: 'stream', name, text });
  };
  const executor = createExecutor(process.cwd(), convs, {
    log: (...a: unknown[]) => stream('stdout', format(...a) + '\n'),
    error: (...a: unknown[]) => stream('stderr', format(...a) + '\n'),
  });
  // tslab.display.* writes here (the kernel points it at its iopub socket).
  // eslint-disable-next-line @typescript-eslint/no-require-imports
  const jupyter = require('tslab/dist/jupyter') as TslabJupyter;
  jupyter.lastWriteDisplayData = (d) => outputs.push({ output_type: 'display_data', data: d.data, metadata: d.metadata ?? {} });
  // Errors thrown after a cell's promise settled (a callback, a forgotten promise) fail that cell too.
  let late: unknown;
  const onLate = (e: unknown) => {
    late ??= e;
    stream('stderr', `${format(e)}\n`);
  };
  process.on('uncaughtException', onLate);
  process.on('unhandledRejection', onLate);

  const out = process.stdout.write;
  const err = process.stderr.write;
  const capture = (name: 'stdout' | 'stderr') =>
    ((chunk: string | Uint8Array, ...rest: unknown[]) => {
      stream(name, typeof chunk === 'string' ? chunk : Buffer.from(chunk).toString('utf8'));
      const cb = rest.find((r) => typeof r === 'function') as (() => void) | undefined;
      cb?.();
      return true;
    }) as typeof process.stdout.write;

  const reports: CellReport[] = [];
  const codeCells = executed.cells.filter((c) => c.cell_type === 'code').length;
  let count = 0;
  let failed: CellReport | undefined;
  try {
    for (let i = 0; i < executed.cells.length; i++) {
      const cell = executed.cells[i];
      if (cell.cell_type !== 'code') continue;
      outputs = [];
      stderr = '';
      late = undefined;
      const c0 = Date.now();
      process.stdout.write = capture('stdout');
      process.stderr.write = capture('stderr');
      let ok: boolean;
      try {
        ok = await executor.execute(cellSource(cell));
        // Let already-queued callbacks run, so an error they throw is charged to this cell.
        await new Promise((r) => setImmediate(r));
      } finally {
        process.stdout.write = out;
        process.stderr.write = err;
      }
      ok = ok && late === undefined;
      const error = ok ? undefined : errorHeadline(stderr).slice(0, 500);
      if (error !== undefined) outputs.push({ output_type: 'error', ename: 'CellError', evalue: error, traceback: stderr.split('\n') });
      cell.outputs = outputs;
      cell.execution_count = ++count;
      const report: CellReport = { cell: i + 1, seconds: (Date.now() - c0) / 1000, ok, stderr, error };
      reports.push(report);
      opts.onCell?.(report, codeCells);
      if (!ok) {
        failed = report;
        break;
      }
    }
  } finally {
    process.off('uncaughtException', onLate);
    process.off('unhandledRejection', onLate);
    jupyter.lastWriteDisplayData = null;
    executor.close();
  }
  return { ok: failed === undefined, executed, cells: reports, failed, seconds: (Date.now() - t0) / 1000 };
}
