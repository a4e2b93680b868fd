import { spawnSync } from 'child_process';
import * as fs from 'fs';
import * as os from 'os';
import * as path from 'path';

// The root README cannot go stale: its opening commands run (`pnpm demo` into a temporary folder), each code
// block after a `<!-- readme-example: NAME -->` marker runs as written in a Node ESM process against the built
// workspace packages (cwd: that folder, so the demo's images are where the example reads them), every
// `pnpm <script>` it names is a root script, and every `pnpm <cli> <command>` it names is a command of that CLI.

const ROOT = path.resolve(__dirname, '..');
const README = fs.readFileSync(path.join(ROOT, 'README.md'), 'utf8');
const SCRIPTS: Record<string, string> = JSON.parse(fs.readFileSync(path.join(ROOT, 'package.json'), 'utf8')).scripts;
const CLIS: Record<string, string> = { rahf: 'packages/reward/dist/cli/main.js', guide: 'packages/guidance/dist/cli/main.js', finetune: 'packages/finetune/dist/cli/main.js' };

let tmp: string;
/** Example files live under test/ so that `@richhf/*` resolve from test/node_modules, as in a user's project. */
let scratch: string;
beforeAll(() => {
  tmp = fs.mkdtempSync(path.join(os.tmpdir(), 'root-readme-'));
  scratch = fs.mkdtempSync(path.join(__dirname, '.readme-'));
});
afterAll(() => {
  fs.rmSync(tmp, { recursive: true, force: true });
  fs.rmSync(scratch, { recursive: true, force: true });
});

function example(name: string): string {
  const m = new RegExp(`<!-- readme-example: ${name} -->\\s*\`\`\`js\\n([\\s\\S]*?)\`\`\``).exec(README);
  if (!m) throw new Error(`README.md: no example "${name}"`);
  return m[1];
}

function runExample(name: string): { code: number | null; stdout: string; stderr: string } {
  const file = path.join(scratch, `${name}.mjs`);
  fs.writeFileSync(file, example(name));
  const r = spawnSync(process.execPath, [file], { cwd: tmp, encoding: 'utf8', timeout: 240_000, env: { ...process.env, RAHF_BACKEND: 'wasm' } });
  return { code: r.status, stdout: r.stdout, stderr: r.stderr };
}

test('the opening commands: `pnpm install && pnpm demo` and `pnpm test`', () => {
  const block = /```bash\n([\s\S]*?)```/.exec(README)![1];
  expect(block).toMatch(/^pnpm install && pnpm demo\s/m);
  expect(block).toMatch(/^pnpm test\s/m);
  expect(README.split('\n').length).toBeLessThanOrEqual(120);
  const r = spawnSync('pnpm', ['demo', '--out', path.join(tmp, 'demo-out')], { cwd: ROOT, encoding: 'utf8', timeout: 240_000 });
  expect(r.stderr).toMatch(/rahf demo: done in/);
  expect(r.status).toBe(0);
  expect(r.stdout).toMatch(/Evaluation on the/);
  expect(fs.existsSync(path.join(tmp, 'demo-out', 'data', 'images', 'synth-7-000003.png'))).toBe(true);
});

test('the reward example scores the demo image: four scores and a word list', () => {
  const r = runExample('reward');
  expect(r.stderr).not.toMatch(/Error/);
  expect(r.code).toBe(0);
  for (const k of ['plausibility', 'alignment', 'aesthetics', 'overall']) expect(r.stdout).toMatch(new RegExp(`${k}: \\d\\.\\d+`));
  expect(r.stdout).toMatch(/\[.*\]/);
});

test('the guidance example: a DDIM loop guided in the four steps of its window', () => {
  const r = runExample('guidance');
  expect(r.stderr).not.toMatch(/Error/);
  expect(r.code).toBe(0);
  expect(r.stdout).toMatch(/guided: 4/);
  expect(r.stdout).toMatch(/skipped: 0/);
});

test('the finetune example: best of 8 written as an imagefolder', () => {
  const r = runExample('finetune');
  expect(r.stderr).not.toMatch(/Error/);
  expect(r.code).toBe(0);
  expect(r.stdout).toMatch(/^kept 1 of 8$/m);
  const meta = fs.readFileSync(path.join(tmp, 'best-of-8', 'imagefolder', 'train', 'metadata.jsonl'), 'utf8').trim().split('\n');
  expect(meta).toHaveLength(1);
  expect(JSON.parse(meta[0])).toMatchObject({ text: 'two black balloons at the bottom', rank: 0 });
});

test('every `pnpm <script>` in the README is a root script; every `pnpm <cli> <command>` is a command of that CLI', () => {
  const named = new Set<string>();
  for (const m of README.matchAll(/pnpm ([a-z]+)(?: ([a-z][a-z-]*))?/g)) {
    const [, script, sub] = m;
    if (['install', 'test', 'i'].includes(script)) continue;
    expect({ script, known: script in SCRIPTS }).toEqual({ script, known: true });
    if (sub && CLIS[script]) named.add(`${script} ${sub}`);
  }
  expect(named.size).toBeGreaterThanOrEqual(3);
  for (const cmd of named) {
    const [cli, sub] = cmd.split(' ');
    const r = spawnSync(process.execPath, [path.join(ROOT, CLIS[cli]), sub, '--help'], { encoding: 'utf8', timeout: 60_000 });
    expect({ cmd, code: r.status, stderr: r.stderr.split('\n')[0] }).toEqual({ cmd, code: 0, stderr: '' });
  }
});

test('every link in the README points to a file or heading that exists', () => {
  for (const m of README.matchAll(/\]\(([^)#]+)(?:#([^)]+))?\)/g)) {
    const [, target, anchor] = m;
    if (/^https?:/.test(target)) continue;
    const file = path.join(ROOT, target);
    expect({ target, exists: fs.existsSync(file) }).toEqual({ target, exists: true });
    if (anchor) {
      const slugs = fs.readFileSync(file, 'utf8').split('\n').filter((l) => l.startsWith('#')).map(slug);
      expect({ target, anchor, found: slugs.includes(anchor) }).toEqual({ target, anchor, found: true });
    }
  }
});

/** GitHub's heading anchor: lower case, punctuation dropped, spaces to hyphens. */
function slug(heading: string): string {
  return heading.replace(/^#+\s*/, '').trim().toLowerCase().replace(/[^\p{L}\p{N}\s_-]/gu, '').replace(/\s/g, '-');
}
