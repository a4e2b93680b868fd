/**
 * Training sequences for the scene generator: the world's training split (scenes sampled by the world,
 * encoded to tokens) or a kept set written by the best-of-N builder with `--generator synth` (each sample's
 * scene tokens ride in its metadata, `generator.tokens`: the token sidecar of the image).
 */
import * as fs from 'fs';
import * as os from 'os';
import * as path from 'path';
import { UserError } from '@richhf/reward';
import { sampleScene, splitOf } from '@richhf/reward/data';
import { readTar } from '../verify';
import { captionTokens, tokensFromText } from './scenes';
import { encodeScene, promptTokens, SCENE_LEN, SEQ_LEN } from './tokens';

/** Token sequences, one row of SEQ_LEN ids each. */
export interface Sequences {
  rows: number;
  data: Int32Array;
  /** Where they came from, for the run's record. */
  source: string;
  /** The caption of each row (kept sets). */
  captions?: string[];
}

export const sequenceAt = (s: Sequences, i: number): Int32Array => s.data.subarray(i * SEQ_LEN, (i + 1) * SEQ_LEN);

/**
 * The first `n` training-split scenes of world `seed` that fit the token slots (a scene with more than six
 * objects, 0.14 % of them, is skipped). Example i of the world is scene i here.
 */
export function worldSequences(seed: number, n: number, size = 128): Sequences {
  const data = new Int32Array(n * SEQ_LEN);
  let rows = 0;
  for (let i = 0; rows < n; i++) {
    if (splitOf(i) !== 'train') continue;
    const { prompt, scene } = sampleScene({ seed, size }, i);
    const tokens = encodeScene(scene);
    if (!tokens) continue;
    data.set(promptTokens(prompt), rows * SEQ_LEN);
    data.set(tokens, rows * SEQ_LEN + SEQ_LEN - SCENE_LEN);
    rows++;
  }
  return { rows, data, source: `world seed ${seed}, first ${n} training-split scenes` };
}

/** Where encoded world scenes are cached: RAHF_CACHE_DIR/synth, else $XDG_CACHE_HOME/richhf/synth, else ~/.cache/richhf/synth. */
export const defaultCacheDir = (): string =>
  process.env.RAHF_CACHE_DIR ? path.join(process.env.RAHF_CACHE_DIR, 'synth') : path.join(process.env.XDG_CACHE_HOME ?? path.join(os.homedir(), '.cache'), 'richhf', 'synth');

/** The world's training sequences, cached in `cacheDir` (they take about a millisecond a scene to make). */
export function cachedWorldSequences(cacheDir: string, seed: number, n: number): Sequences {
  const file = path.join(cacheDir, `world-${seed}-${n}-L${SEQ_LEN}.i32`);
  if (fs.existsSync(file) && fs.statSync(file).size === n * SEQ_LEN * 4) {
    const buf = fs.readFileSync(file);
    return { rows: n, data: new Int32Array(buf.buffer.slice(buf.byteOffset, buf.byteOffset + buf.byteLength)), source: `world seed ${seed}, first ${n} training-split scenes` };
  }
  const s = worldSequences(seed, n);
  fs.mkdirSync(cacheDir, { recursive: true });
  const tmp = `${file}.tmp-${process.pid}`;
  fs.writeFileSync(tmp, new Uint8Array(s.data.buffer, s.data.byteOffset, s.data.byteLength));
  fs.renameSync(tmp, file);
  return s;
}

/** One kept sample as the builder wrote it: its caption and the scene tokens of its generator settings. */
interface KeptRow {
  text: string;
  tokens: unknown;
  where: string;
}

async function keptRows(dir: string): Promise<KeptRow[]> {
  const meta = path.join(dir, 'imagefolder', 'train', 'metadata.jsonl');
  if (fs.existsSync(meta)) {
    return fs.readFileSync(meta, 'utf8').split('\n').filter((l) => l.trim()).map((l, i) => {
      const where = `${meta}:${i + 1}`;
      let m: { text?: unknown; generator?: { tokens?: unknown } };
      try {
        m = JSON.parse(l);
      } catch {
        throw new UserError(`${where}: not JSON`);
      }
      return { text: String(m.text ?? ''), tokens: m.generator?.tokens, where };
    });
  }
  const wds = path.join(dir, 'webdataset');
  if (fs.existsSync(wds)) {
    const rows: KeptRow[] = [];
    for (const f of fs.readdirSync(wds).filter((x) => x.endsWith('.tar')).sort()) {
      const members = await readTar(path.join(wds, f));
      const byKey = new Map<string, { txt?: string; json?: { generator?: { tokens?: unknown } } }>();
      for (const m of members) {
        const dot = m.name.indexOf('.');
        const key = m.name.slice(0, dot);
        const e = byKey.get(key) ?? {};
        if (m.name.endsWith('.txt')) e.txt = m.data.toString('utf8');
        if (m.name.endsWith('.json')) e.json = JSON.parse(m.data.toString('utf8'));
        byKey.set(key, e);
      }
      for (const [key, e] of byKey) rows.push({ text: e.txt ?? '', tokens: e.json?.generator?.tokens, where: `${path.join(wds, f)}:${key}` });
    }
    return rows;
  }
  throw new UserError(`--kept ${dir}: no imagefolder/train/metadata.jsonl or webdataset/ shards (a finetune build's --out)`);
}

/** The kept samples of builder outputs as training sequences. */
export async function keptSequences(dirs: string[]): Promise<Sequences> {
  const seqs: Int32Array[] = [];
  const captions: string[] = [];
  for (const dir of dirs) {
    for (const r of await keptRows(dir)) {
      const scene = tokensFromText(r.tokens, r.where);
      if (scene.length !== SCENE_LEN) throw new UserError(`${r.where}: ${scene.length} scene tokens, expected ${SCENE_LEN}`);
      const s = new Int32Array(SEQ_LEN);
      s.set(captionTokens(r.text));
      s.set(scene, SEQ_LEN - SCENE_LEN);
      seqs.push(s);
      captions.push(r.text);
    }
  }
  if (seqs.length === 0) throw new UserError(`--kept ${dirs.join(',')}: no kept samples`);
  const data = new Int32Array(seqs.length * SEQ_LEN);
  seqs.forEach((s, i) => data.set(s, i * SEQ_LEN));
  return { rows: seqs.length, data, source: `kept samples of ${dirs.join(', ')}`, captions };
}
