import sharp from 'sharp';
import { safeKey, sampleKey } from '../ids';
import type { PromptRecord } from '../journal';
import { EncodedImage, OutputPair, OutputSample, PromptOutputs } from '../writers/output';

/** A small solid-colour PNG whose colour encodes `seed` (tests tell images apart by their pixels). */
export async function colourPng(seed: number, width = 24, height = 16): Promise<Uint8Array> {
  const r = (seed * 53) % 256;
  const g = (seed * 97 + 40) % 256;
  const b = (seed * 29 + 80) % 256;
  return new Uint8Array(await sharp({ create: { width, height, channels: 3, background: { r, g, b } } }).png().toBuffer());
}

/** What a finished prompt hands to the output set: `accepted` samples (best first) and optionally a pair. */
export async function promptOutputs(id: string, prompt: string, opts: { accepted?: number; n?: number; pair?: boolean } = {}): Promise<{ outputs: PromptOutputs; record: PromptRecord }> {
  const n = opts.n ?? 4;
  const key = safeKey(id);
  const values = Array.from({ length: n }, (_, k) => 0.9 - 0.1 * k);
  const sample = async (k: number): Promise<OutputSample> => ({
    key: sampleKey(key, k),
    promptId: id,
    promptKey: key,
    prompt,
    candidate: k,
    seed: 1000 + k,
    rank: k,
    value: values[k],
    scores: { plausibility: values[k], alignment: 0.5, aesthetics: 0.4, overall: 0.6 },
    misaligned: k === 0 ? [] : ['cat'],
    settings: { generator: 'test', steps: 4 },
    width: 24,
    height: 16,
    image: new EncodedImage(await colourPng(k + id.length * 7), 'png'),
  });
  const accepted = await Promise.all(Array.from({ length: opts.accepted ?? 1 }, (_, k) => sample(k)));
  let pair: OutputPair | undefined;
  if (opts.pair) pair = { promptId: id, promptKey: key, prompt, margin: values[0] - values[n - 1], chosen: await sample(0), rejected: await sample(n - 1) };
  const record: PromptRecord = {
    id,
    key,
    h: '00000000',
    n,
    accepted: accepted.map((s) => s.candidate),
    pair: pair ? [0, n - 1] : undefined,
    values,
    scores: { plausibility: values, alignment: values.map(() => 0.5), aesthetics: values.map(() => 0.4), overall: values.map(() => 0.6) },
  };
  return { outputs: { promptId: id, promptKey: key, accepted, pair }, record };
}

/**
 * A folder generator's input: `DIR/<folder>/<k>.png` for each prompt, candidate k painted with red level
 * `red(prompt index, k)` (0–255) so a ColourScorer ranks them by it. Returns the prompts file (JSONL).
 */
export async function candidateFolder(
  dir: string,
  prompts: Array<{ id: string; prompt: string; folder?: string }>,
  n: number,
  red: (i: number, k: number) => number,
): Promise<string> {
  const fs = await import('fs');
  const path = await import('path');
  for (const [i, p] of prompts.entries()) {
    const d = path.join(dir, 'candidates', p.folder ?? p.id);
    fs.mkdirSync(d, { recursive: true });
    for (let k = 0; k < n; k++) {
      const png = await sharp({ create: { width: 20, height: 12, channels: 3, background: { r: red(i, k), g: 10 * k, b: 7 * i } } }).png().toBuffer();
      fs.writeFileSync(path.join(d, `${k}.png`), png);
    }
  }
  const file = path.join(dir, 'prompts.jsonl');
  fs.writeFileSync(file, prompts.map((p) => JSON.stringify({ id: p.id, prompt: p.prompt })).join('\n') + '\n');
  return file;
}
