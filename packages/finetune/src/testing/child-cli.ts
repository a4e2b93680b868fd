import { spawn, ChildProcess } from 'child_process';
import { createHash } from 'crypto';
import * as fs from 'fs';
import * as path from 'path';
import * as ts from 'typescript';

const PKG = path.resolve(__dirname, '..', '..');
let compiled: string | undefined;

/**
 * The package's sources transpiled into node_modules/.cache/finetune-child-<hash of the sources> (so
 * `@richhf/reward` and the other dependencies resolve as from dist/), for tests that run the CLI as a separate
 * process and kill it: they exercise the code under test, never a stale dist/. Test processes share one copy per
 * source state; older copies are removed. Type-free transpilation: ts-jest type-checks.
 */
export function childCli(): string {
  if (compiled) return compiled;
  const srcDir = path.join(PKG, 'src');
  const walk = (d: string): string[] =>
    fs.readdirSync(d, { withFileTypes: true }).flatMap((e) => (e.isDirectory() ? walk(path.join(d, e.name)) : e.name.endsWith('.ts') && !e.name.endsWith('.test.ts') ? [path.join(d, e.name)] : []));
  const files = walk(srcDir).sort();
  const hash = createHash('sha256');
  for (const f of files) hash.update(f).update(fs.readFileSync(f));
  const cacheDir = path.join(PKG, 'node_modules', '.cache');
  const name = `finetune-child-${hash.digest('hex').slice(0, 16)}`;
  const outDir = path.join(cacheDir, name);
  if (!fs.existsSync(outDir)) {
    const tmp = `${outDir}.tmp-${process.pid}`;
    for (const file of files) {
      const out = ts.transpileModule(fs.readFileSync(file, 'utf8'), {
        fileName: file,
        compilerOptions: { module: ts.ModuleKind.CommonJS, target: ts.ScriptTarget.ES2022, esModuleInterop: true },
      });
      const dest = path.join(tmp, path.relative(srcDir, file)).replace(/\.ts$/, '.js');
      fs.mkdirSync(path.dirname(dest), { recursive: true });
      fs.writeFileSync(dest, out.outputText);
    }
    try {
      fs.renameSync(tmp, outDir);
    } catch {
      fs.rmSync(tmp, { recursive: true, force: true }); // another test process made it first
    }
  }
  for (const old of fs.readdirSync(cacheDir)) {
    if (old.startsWith('finetune-child-') && old !== name && !old.includes('.tmp-')) fs.rmSync(path.join(cacheDir, old), { recursive: true, force: true });
  }
  compiled = path.join(outDir, 'cli', 'main.js');
  return compiled;
}

export interface ChildResult {
  code: number | null;
  signal: NodeJS.Signals | null;
  stdout: string;
  stderr: string;
}

/** Start `finetune ARGS` as a child process. */
export function startCli(args: string[], env: Record<string, string> = {}): { child: ChildProcess; done: Promise<ChildResult> } {
  const child = spawn(process.execPath, [childCli(), ...args], { env: { ...process.env, ...env }, stdio: ['ignore', 'pipe', 'pipe'] });
  let stdout = '';
  let stderr = '';
  child.stdout!.on('data', (d) => (stdout += d));
  child.stderr!.on('data', (d) => (stderr += d));
  const done = new Promise<ChildResult>((resolve) => child.on('close', (code, signal) => resolve({ code, signal, stdout, stderr })));
  return { child, done };
}

/** Run `finetune ARGS` to the end. */
export function runCli(args: string[], env?: Record<string, string>): Promise<ChildResult> {
  return startCli(args, env).done;
}
