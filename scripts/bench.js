#!/usr/bin/env node
// `pnpm bench [--json] [--only reward,guidance,finetune] [reward options…]`: every package's benchmark in turn
// (reward: packages/reward/dist/bench/main.js, whose options pass through — `--preset`, `--runs`, `--skip-*`;
// guidance: TAESD decode + gradient, the pipeline's per-step cost; finetune: best-of-N throughput and memory,
// the scene generator's sampling rate), merged into one JSON object with --json (each package's keys at the
// top level, as each issue names them).
// Progress goes to stderr. A benchmark, never a test.
'use strict';
const { spawnSync } = require('child_process');
const path = require('path');

const root = path.resolve(__dirname, '..');
const args = process.argv.slice(2);
const json = args.includes('--json');
let only = ['reward', 'guidance', 'finetune'];
const rest = [];
for (let i = 0; i < args.length; i++) {
  if (args[i] === '--only') only = String(args[++i] ?? '').split(',').filter(Boolean);
  else if (args[i].startsWith('--only=')) only = args[i].slice(7).split(',').filter(Boolean);
  else if (args[i] !== '--json') rest.push(args[i]);
}
const unknown = only.filter((p) => !['reward', 'guidance', 'finetune'].includes(p));
if (unknown.length) {
  process.stderr.write(`bench: --only names unknown package(s) ${unknown.join(', ')} (reward, guidance, finetune)\n`);
  process.exit(2);
}
const runsAt = rest.findIndex((a) => a === '--runs' || a.startsWith('--runs='));
const runs = runsAt < 0 ? [] : rest[runsAt].includes('=') ? [rest[runsAt]] : [rest[runsAt], rest[runsAt + 1]];
const threadsAt = rest.findIndex((a) => a === '--threads' || a.startsWith('--threads='));
const threads = threadsAt < 0 ? [] : rest[threadsAt].includes('=') ? [rest[threadsAt]] : [rest[threadsAt], rest[threadsAt + 1]];

const jobs = {
  reward: ['packages/reward/dist/bench/main.js', ['--json', ...rest]],
  guidance: ['packages/guidance/dist/bench/main.js', ['--json', ...runs, ...threads]],
  finetune: ['packages/finetune/dist/bench/main.js', [...runs]],
};

const merged = {};
for (const name of only) {
  const [file, argv] = jobs[name];
  process.stderr.write(`== ${name} (${file})\n`);
  const r = spawnSync(process.execPath, [path.join(root, file), ...argv], { cwd: root, stdio: ['ignore', 'pipe', 'inherit'], encoding: 'utf8', maxBuffer: 64 << 20 });
  if (r.status !== 0) {
    process.stderr.write(`bench: ${name} exited with ${r.status ?? r.signal}\n`);
    process.exit(1);
  }
  const text = r.stdout.trim();
  try {
    Object.assign(merged, JSON.parse(text.slice(text.indexOf('{'))));
  } catch {
    process.stderr.write(`bench: ${name} printed no JSON object\n`);
    process.exit(1);
  }
}
process.stdout.write(json ? JSON.stringify(merged, null, 1) + '\n' : Object.entries(merged).map(([k, v]) => `${k}\t${typeof v === 'object' ? JSON.stringify(v) : v}`).join('\n') + '\n');
