/**
 * `finetune inpaint`: heatmap-masked inpainting over a prompt list, written as files a person can look at —
 * `<key>/before.png`, `<key>/mask.png` (A1111's convention: white = repaint), `<key>/after.png` — and one line
 * of scores per image in `results.jsonl` (the run resumes after the last line). With the scene generator the
 * truth of before and after is known, and `summary.json` says what inpainting did to it: the share of images
 * whose true artifacts fell, artifacts removed and introduced per image, with 95 % bootstrap intervals.
 */
import * as fs from 'fs';
import * as path from 'path';
import { UserError, type Scorer } from '@richhf/reward';
import { Rng, samplePrompt } from '@richhf/reward/data';
import { Progress, writeFileAtomic } from '@richhf/reward/util';
import { openScorerSpec, type ScorerSpec } from '../builder';
import { GeneratorError, type Generator } from '../generator';
import { A1111Generator } from '../generators/a1111';
import { openGenerator, type GeneratorOptions } from '../generators/open';
import { candidateSeeds } from '../ids';
import { readPrompts, type PromptEntry } from '../prompts';
import { bootstrapMean, type Interval } from '../proof/bootstrap';
import { SynthGenerator } from '../synth/generator';
import { splitIndices } from '../synth/rates';
import { synthPrompt, type RenderedSample } from '../synth/scenes';
import { artifactSlotPositions, ARTIFACT_SLOTS } from '../synth/tokens';
import { maskArea, maskPng } from './mask';
import { inpaintImage, inpaintScene, type Attempt, type InpaintOptions } from './region';

export interface InpaintRunOptions extends InpaintOptions {
  /** `synth[:DIR]`, `a1111:URL`, or a generator. */
  generator: string | Generator;
  generatorOptions?: GeneratorOptions;
  /** A prompts file or entries; or, with the scene generator, `heldOut` world prompts instead. */
  prompts?: string | PromptEntry[];
  /** The first N prompts of the world's test split (world `seed`): the proof on truth. */
  heldOut?: number;
  /** Image generators: start from `DIR/<prompt key>.png` instead of generating the image first. */
  images?: string;
  out: string;
  seed?: number;
  scorer?: Scorer | ScorerSpec;
  progress?: boolean;
  log?: (line: string) => void;
}

export interface InpaintLine {
  key: string;
  prompt_id: string;
  prompt: string;
  seed: number;
  plausibility_before: number;
  plausibility_after: number;
  candidates: number[];
  accepted: boolean;
  mask_pixels: number;
  repainted_pixels: number;
  /** Scene generator only: exact truth before and after. */
  truth?: { artifacts_before: number; artifacts_after: number; removed: number; introduced: number; plausibility_before: number; plausibility_after: number };
}

export interface InpaintSummary {
  images: number;
  repainted: number;
  accepted: number;
  reward_plausibility: { before: Interval; after: Interval };
  truth?: { share_fell: Interval; share_rose: Interval; removed: Interval; introduced: Interval; plausibility_delta: Interval };
}

/** Artifact slots of a sample that drew something, as token keys (an artifact is "the same" when its tokens are). */
function artifactKeys(s: RenderedSample): string[] {
  const keys: string[] = [];
  for (let k = 0; k < ARTIFACT_SLOTS; k++) if (s.artifactSlots[k] >= 0) keys.push(artifactSlotPositions(k).map((p) => s.tokens[p]).join(','));
  return keys;
}

/** Removed: before's artifacts not in after; introduced: after's not in before (as multisets). */
export function artifactChange(before: RenderedSample, after: RenderedSample): { removed: number; introduced: number } {
  const a = artifactKeys(before);
  const b = artifactKeys(after);
  const minus = (x: string[], y: string[]) => {
    const rest = [...y];
    return x.filter((k) => {
      const i = rest.indexOf(k);
      if (i < 0) return true;
      rest.splice(i, 1);
      return false;
    }).length;
  };
  return { removed: minus(a, b), introduced: minus(b, a) };
}

export function summarize(lines: ReadonlyArray<InpaintLine>): InpaintSummary {
  const col = (f: (l: InpaintLine) => number, seed: string) => bootstrapMean(lines.map(f), { seed });
  const s: InpaintSummary = {
    images: lines.length,
    repainted: lines.filter((l) => l.repainted_pixels > 0).length,
    accepted: lines.filter((l) => l.accepted).length,
    reward_plausibility: { before: col((l) => l.plausibility_before, 'rb'), after: col((l) => l.plausibility_after, 'ra') },
  };
  const t = lines.filter((l) => l.truth).map((l) => l.truth!);
  if (t.length === lines.length && t.length > 0) {
    const c = (f: (x: (typeof t)[number]) => number, seed: string) => bootstrapMean(t.map(f), { seed });
    s.truth = {
      share_fell: c((x) => (x.artifacts_after < x.artifacts_before ? 1 : 0), 'fell'),
      share_rose: c((x) => (x.artifacts_after > x.artifacts_before ? 1 : 0), 'rose'),
      removed: c((x) => x.removed, 'removed'),
      introduced: c((x) => x.introduced, 'introduced'),
      plausibility_delta: c((x) => x.plausibility_after - x.plausibility_before, 'pd'),
    };
  }
  return s;
}

/** The finished images of an earlier run; a line torn by a kill (the last, unterminated) is dropped. */
function readLines(file: string): InpaintLine[] {
  if (!fs.existsSync(file)) return [];
  const text = fs.readFileSync(file, 'utf8');
  const whole = text.endsWith('\n') ? text : text.slice(0, text.lastIndexOf('\n') + 1);
  if (whole !== text) fs.writeFileSync(file, whole);
  return whole.split('\n').filter((l) => l.trim()).map((l, i) => {
    try {
      return JSON.parse(l) as InpaintLine;
    } catch {
      throw new UserError(`${file}:${i + 1}: not a results line; remove the folder or the line to rerun`);
    }
  });
}

/** Runs (or resumes) inpainting over the prompts; returns the summary also written to summary.json. */
export async function runInpaint(o: InpaintRunOptions): Promise<InpaintSummary> {
  const log = o.log ?? ((l: string) => process.stderr.write(l + '\n'));
  const seed = o.seed ?? 0;
  const k = o.k ?? 4;
  if (!(Number.isInteger(k) && k >= 1)) throw new UserError(`--k must be an integer ≥ 1, got ${k}`);
  const own = typeof o.generator === 'string';
  const gen = typeof o.generator === 'string' ? await openGenerator(o.generator, o.generatorOptions) : o.generator;
  const synth = gen instanceof SynthGenerator ? gen : undefined;
  const a1111 = gen instanceof A1111Generator ? gen : undefined;
  let scorer: Scorer | undefined;
  try {
    if (!synth && !a1111) throw new UserError(`--generator ${gen.kind}: inpainting needs synth or a1111:URL`);
    if (o.images && !a1111) throw new UserError('--images: only image generators (a1111:URL) start from given images');
    let prompts: PromptEntry[];
    if (o.heldOut !== undefined) {
      if (!synth) throw new UserError('--held-out: the world prompts are for --generator synth (its truth is known)');
      prompts = splitIndices('test', o.heldOut).map((i, line) => ({ id: `w${seed}-${i}`, key: `w${seed}-${i}`, prompt: samplePrompt(new Rng(seed, i, 'prompt')).caption, line }));
    } else if (o.prompts !== undefined) prompts = typeof o.prompts === 'string' ? readPrompts(o.prompts) : o.prompts;
    else throw new UserError('give --prompts FILE (or, with --generator synth, --held-out N)');

    fs.mkdirSync(o.out, { recursive: true });
    const resultsFile = path.join(o.out, 'results.jsonl');
    const lines = readLines(resultsFile);
    const done = new Set(lines.map((l) => l.key));
    if (done.size > 0) log(`resuming ${o.out}: ${done.size} of ${prompts.length} images done`);
    scorer = o.scorer && 'score' in o.scorer ? o.scorer : await openScorerSpec(o.scorer as ScorerSpec | undefined, log);
    const todo = prompts.filter((p) => !done.has(p.key));
    const progress = new Progress(todo.length, 'inpaint', { enabled: o.progress ?? true, unit: 'images' });
    let accepted = lines.filter((l) => l.accepted).length;
    for (const p of todo) {
      const seeds = candidateSeeds(seed, p.id, 1 + k);
      let attempt: Attempt<unknown>;
      let truth: InpaintLine['truth'];
      if (synth) {
        const [before] = await synth.sample(synthPrompt(p.prompt, `--prompts line ${p.line}:`), [seeds[0]]);
        const a = await inpaintScene(synth, before, scorer, seeds.slice(1), o);
        const ch = artifactChange(a.before.item, a.after.item);
        truth = {
          artifacts_before: a.before.item.truth.artifacts.length, artifacts_after: a.after.item.truth.artifacts.length, ...ch,
          plausibility_before: a.before.item.truth.latent.plausibility, plausibility_after: a.after.item.truth.latent.plausibility,
        };
        attempt = a;
      } else {
        let png: Uint8Array;
        let source: string;
        if (o.images) {
          source = path.join(o.images, `${p.key}.png`);
          if (!fs.existsSync(source)) throw new UserError(`--images ${o.images}: no ${p.key}.png for prompt ${JSON.stringify(p.id)}`);
          png = new Uint8Array(fs.readFileSync(source));
        } else {
          const [c] = await a1111!.generate({ promptId: p.id, promptKey: p.key, prompt: p.prompt, n: 1, seeds: [seeds[0]] });
          if (!c) throw new GeneratorError(`${gen.kind}: no image for prompt ${JSON.stringify(p.id)}`);
          png = c.bytes;
          source = c.source;
        }
        attempt = await inpaintImage(a1111!, { png, source }, { promptId: p.id, promptKey: p.key, prompt: p.prompt }, scorer, seeds.slice(1), o);
      }
      const dir = path.join(o.out, p.key);
      writeFileAtomic(path.join(dir, 'before.png'), attempt.before.png);
      writeFileAtomic(path.join(dir, 'mask.png'), await maskPng(attempt.snapped));
      writeFileAtomic(path.join(dir, 'after.png'), attempt.after.png);
      const line: InpaintLine = {
        key: p.key, prompt_id: p.id, prompt: p.prompt, seed: seeds[0],
        plausibility_before: round(attempt.before.plausibility), plausibility_after: round(attempt.after.plausibility),
        candidates: attempt.candidates.map((c) => round(c.plausibility)), accepted: attempt.accepted,
        mask_pixels: maskArea(attempt.mask), repainted_pixels: maskArea(attempt.snapped), truth,
      };
      fs.appendFileSync(resultsFile, JSON.stringify(line) + '\n');
      lines.push(line);
      if (line.accepted) accepted++;
      progress.tick(1, `${accepted} accepted`);
    }
    const summary = summarize(lines);
    writeFileAtomic(path.join(o.out, 'summary.json'), JSON.stringify(summary, null, 1) + '\n');
    return summary;
  } finally {
    if (own) await gen.close().catch(() => undefined);
    if (scorer && !(o.scorer && 'score' in o.scorer)) await scorer.dispose();
  }
}

const round = (v: number) => Math.round(v * 1e6) / 1e6;
