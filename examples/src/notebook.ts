/** Jupyter notebook files (nbformat 4): reading, checking, and the outputs a run attaches to cells. */
import * as fs from 'fs';
import { UserError } from '@richhf/reward';

export type Output =
  | { output_type: 'stream'; name: 'stdout' | 'stderr'; text: string }
  | { output_type: 'display_data'; data: Record<string, string>; metadata: Record<string, unknown> }
  | { output_type: 'error'; ename: string; evalue: string; traceback: string[] };

export interface Cell {
  cell_type: 'code' | 'markdown' | 'raw';
  source: string | string[];
  metadata: Record<string, unknown>;
  outputs?: Output[];
  execution_count?: number | null;
  [key: string]: unknown;
}

export interface Notebook {
  nbformat: number;
  nbformat_minor: number;
  metadata: Record<string, unknown>;
  cells: Cell[];
}

/** The cell's source as one string (nbformat allows a list of lines). */
export function cellSource(cell: Cell): string {
  return Array.isArray(cell.source) ? cell.source.join('') : cell.source;
}

/** Read and check a notebook; a bad file is a one-line UserError naming it. */
export function readNotebook(file: string): Notebook {
  let text: string;
  try {
    text = fs.readFileSync(file, 'utf8');
  } catch (e) {
    throw new UserError(`${file}: cannot read (${(e as NodeJS.ErrnoException).code ?? (e as Error).message})`);
  }
  let nb: Notebook;
  try {
    nb = JSON.parse(text) as Notebook;
  } catch (e) {
    throw new UserError(`${file}: not a notebook (invalid JSON: ${(e as Error).message})`);
  }
  if (nb === null || typeof nb !== 'object' || nb.nbformat !== 4 || !Array.isArray(nb.cells)) {
    throw new UserError(`${file}: not an nbformat 4 notebook (needs "nbformat": 4 and a "cells" list)`);
  }
  nb.cells.forEach((c, i) => {
    if (!c || !['code', 'markdown', 'raw'].includes(c.cell_type) || (typeof c.source !== 'string' && !Array.isArray(c.source))) {
      throw new UserError(`${file}: cell ${i + 1} has no cell_type code/markdown/raw or no source`);
    }
  });
  return nb;
}

/** Notebook JSON as Jupyter writes it (one-space indent, trailing newline), sources as line lists. */
export function formatNotebook(nb: Notebook): string {
  const lines = (s: string) => s.split(/(?<=\n)/);
  const cells = nb.cells.map((c) => ({ ...c, source: lines(cellSource(c)) }));
  return JSON.stringify({ ...nb, cells }, null, 1) + '\n';
}

/** Whether any code cell carries outputs or an execution count (committed notebooks must not). */
export function hasOutputs(nb: Notebook): boolean {
  return nb.cells.some((c) => c.cell_type === 'code' && ((c.outputs?.length ?? 0) > 0 || (c.execution_count ?? null) !== null));
}

/** The notebook with every code cell's outputs and execution count removed (how it is committed). */
export function clearOutputs(nb: Notebook): Notebook {
  return { ...nb, cells: nb.cells.map((c) => (c.cell_type === 'code' ? { ...c, outputs: [], execution_count: null } : c)) };
}
