import { spawnSync } from 'child_process';
import * as fs from 'fs';
import * as path from 'path';
import { cellSource, findNotebooks, hasOutputs, readNotebook, type Notebook } from '@richhf/examples';

// Every notebook in examples/ runs headless, as `pnpm notebooks` runs it: tslab's own converter and executor,
// one process per notebook (examples/src/run-notebook.ts says why not nbconvert). New notebooks drop in.
const EXAMPLES = path.dirname(require.resolve('@richhf/examples/package.json'));
const CLI = path.join(EXAMPLES, require(path.join(EXAMPLES, 'package.json')).bin['run-notebooks']);
/** Each notebook must run in under 3 minutes on 2 cores (issue #32). */
const LIMIT_S = 180;

function runNotebooks(files: string[], out: string) {
  const t0 = Date.now();
  const r = spawnSync(process.execPath, [CLI, ...files, '--timeout', String(LIMIT_S), '--out', out], {
    encoding: 'utf8',
    env: { ...process.env, RAHF_BACKEND: 'wasm' },
    timeout: (LIMIT_S + 30) * 1000,
  });
  return { code: r.status, stdout: r.stdout, stderr: r.stderr, seconds: (Date.now() - t0) / 1000 };
}

/** Pictures among a run's outputs: PNG displays and images inside HTML displays. */
function pictures(nb: Notebook): number {
  let n = 0;
  for (const c of nb.cells) {
    for (const o of c.outputs ?? []) {
      if (o.output_type !== 'display_data') continue;
      if (o.data['image/png']) n++;
      n += (o.data['text/html'] ?? '').match(/<img src="data:image\/png;base64,/g)?.length ?? 0;
    }
  }
  return n;
}

// Scratch space below this package's node_modules (tslab type-checks cells against the @types it finds
// above the notebook's folder); .scratch/ is git-ignored.
fs.mkdirSync(path.join(__dirname, '.scratch'), { recursive: true });
const scratch = fs.mkdtempSync(path.join(__dirname, '.scratch', 'notebooks-'));
afterAll(() => fs.rmSync(scratch, { recursive: true, force: true }));

const notebooks = findNotebooks(EXAMPLES);

test('examples/ holds the quickstart and evaluate notebooks', () => {
  expect(notebooks.map((f) => path.basename(f))).toEqual(expect.arrayContaining(['quickstart.ipynb', 'evaluate.ipynb']));
});

describe.each(notebooks.map((f) => [path.basename(f), f]))('%s', (name, file) => {
  test('is committed without outputs and opens with a markdown cell saying what it shows', () => {
    const nb = readNotebook(file);
    expect(hasOutputs(nb)).toBe(false);
    expect(nb.cells[0].cell_type).toBe('markdown');
    expect(cellSource(nb.cells[0])).toMatch(/^# .+/);
    expect((nb.metadata.kernelspec as { name?: string } | undefined)?.name).toBe('tslab');
  });

  test(`runs top to bottom with tslab in under ${LIMIT_S} s and shows pictures`, () => {
    const out = path.join(scratch, 'executed');
    const r = runNotebooks([file], out);
    if (r.code !== 0) throw new Error(`${name} failed (exit ${r.code}):\n${r.stderr.slice(-4000)}`);
    expect(r.stdout).toContain(`${name}: `);
    expect(r.stdout).toContain('1 passed, 0 failed');
    expect(r.seconds).toBeLessThan(LIMIT_S);
    const executed = readNotebook(path.join(out, name));
    expect(executed.cells.filter((c) => c.cell_type === 'code').every((c) => typeof c.execution_count === 'number')).toBe(true);
    expect(pictures(executed)).toBeGreaterThanOrEqual(1);
  });
});

test('--clear strips outputs in place and keeps the sources', () => {
  const file = path.join(scratch, 'with-outputs.ipynb');
  const cell = { cell_type: 'code', metadata: {}, source: ['const a = 1;\n', 'a'], execution_count: 3, outputs: [{ output_type: 'stream', name: 'stdout', text: '1\n' }] };
  fs.writeFileSync(file, JSON.stringify({ nbformat: 4, nbformat_minor: 5, metadata: {}, cells: [cell] }));
  const r = spawnSync(process.execPath, [CLI, '--clear', file], { encoding: 'utf8' });
  expect(r.status).toBe(0);
  const nb = readNotebook(file);
  expect(hasOutputs(nb)).toBe(false);
  expect(cellSource(nb.cells[0])).toBe('const a = 1;\na');
});

describe('a notebook with a failing cell fails the runner', () => {
  const code = (source: string) => ({ cell_type: 'code', metadata: {}, source, outputs: [], execution_count: null });
  const write = (name: string, cells: object[]) => {
    const file = path.join(scratch, name);
    fs.writeFileSync(file, JSON.stringify({ nbformat: 4, nbformat_minor: 5, metadata: {}, cells }));
    return file;
  };

  test('a cell that throws: exit 1, the cell and its error named, later cells not run', () => {
    const marker = path.join(scratch, 'after-the-failure');
    const file = write('broken.ipynb', [
      { cell_type: 'markdown', metadata: {}, source: '# broken on purpose' },
      code("const greeting: string = 'hello';\nconsole.log(greeting);"),
      code("await new Promise((r) => setTimeout(r, 1));\nthrow new Error('deliberately broken cell');"),
      code(`require('fs').writeFileSync(${JSON.stringify(marker)}, 'ran');`),
    ]);
    const r = runNotebooks([file], path.join(scratch, 'broken-out'));
    expect(r.code).toBe(1);
    expect(r.stderr).toContain('broken.ipynb: cell 3 failed: Error: deliberately broken cell');
    expect(r.stdout).toContain('0 passed, 1 failed');
    expect(fs.existsSync(marker)).toBe(false);
    // The executed copy keeps what ran: the first cell's output and the error.
    const executed = readNotebook(path.join(scratch, 'broken-out', 'broken.ipynb'));
    expect(executed.cells[1].outputs).toEqual([{ output_type: 'stream', name: 'stdout', text: 'hello\n' }]);
    expect(executed.cells[2].outputs?.some((o) => o.output_type === 'error')).toBe(true);
    expect(executed.cells[3].execution_count).toBeNull();
  });

  test('a type error is a cell error (cells are type-checked, as in the tslab kernel)', () => {
    const file = write('type-error.ipynb', [code("const n: number = 'not a number';")]);
    const r = runNotebooks([file], path.join(scratch, 'type-error-out'));
    expect(r.code).toBe(1);
    expect(r.stderr).toMatch(/type-error\.ipynb: cell 1 failed: 1:7 - Type 'string' is not assignable to type 'number'/);
  });
});
