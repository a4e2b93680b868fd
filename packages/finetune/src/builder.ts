import * as path from 'path';
import { openScorer, UserError, type Scorer } from '@richhf/reward';
import { inOrderAhead, Progress } from '@richhf/reward/util';
import { GenerateRequest, Generator, GeneratorError } from './generator';
import { GeneratorOptions, openGenerator } from './generators/open';
import { candidateSeeds } from './ids';
import { OutputSet, ShardPolicy } from './output-set';
import { PromptEntry, readPrompts } from './prompts';
import { writeReport } from './report';
import { RunSettings } from './run-config';
import { finishLot, promptHash, PromptResult } from './results';
import { decodeCandidates, dropImageCache, scoreGroups } from './scoring';
import { formatMix, parseSelect, ScoreMix, validateSelectOptions } from './selection';
import type { RunStats } from './stats';
import { FORMAT_NAMES, FormatName, ImageType } from './writers/output';

export type { PromptResult } from './results';

export interface ScorerSpec {
  /** RAHF checkpoint (folder, weights file or HF hub id; default the bundled one) or an ONNX export folder. */
  checkpoint?: string;
  engine?: 'auto' | 'ort' | 'tfjs';
  int8?: boolean;
  threads?: number;
  cacheDir?: string;
}

export interface BuildOptions extends ShardPolicy {
  /** A prompts file (JSONL or plain text, see readPrompts) or entries already read. */
  prompts: string | PromptEntry[];
  /** `folder:DIR`, `a1111:URL`, … (see openGenerator), or a Generator. */
  generator: string | Generator;
  generatorOptions?: GeneratorOptions;
  /** Candidates per prompt (default 8, the paper's). */
  n?: number;
  /** Run seed: candidate seeds derive from it and the prompt id (default 0). */
  seed?: number;
  /** Selection score or mix (default `plausibility`, the paper's). */
  select?: string | ScoreMix;
  min?: number;
  top?: number;
  pairs?: boolean;
  margin?: number;
  formats?: FormatName[];
  out: string;
  imageType?: ImageType;
  /** Decode the misaligned prompt words of accepted samples (default true). */
  keywords?: boolean;
  /** A scorer to use (not disposed), or how to open one. */
  scorer?: Scorer | ScorerSpec;
  /** Images per scorer forward pass (default 8). */
  batchSize?: number;
  /** Generator requests in flight (default 2: the next prompt generates while this one scores). */
  concurrency?: number;
  /** Stop after this many prompts in this invocation (the rest wait for the next). */
  limit?: number;
  /** Progress line on stderr (default true). */
  progress?: boolean;
  log?: (line: string) => void;
}

export interface BuildSummary {
  out: string;
  /** Prompts in the file, done before this invocation, done by it, still to do. */
  prompts: number;
  skipped: number;
  processed: number;
  remaining: number;
  candidates: number;
  accepted: number;
  pairs: number;
  seconds: number;
  imagesPerSecond: number;
  /** Whole-run statistics (every invocation), also in stats.json. */
  stats: RunStats;
  resumed: boolean;
}

/** A running build: iterate it for ranked results; `summary` is set once the iteration ends. */
export interface BuildRun extends AsyncIterable<PromptResult> {
  summary?: BuildSummary;
}

/** The builder as a library: the same run as `finetune build`, yielding each prompt's ranked result. */
export function build(opts: BuildOptions): BuildRun {
  const run: BuildRun = {
    [Symbol.asyncIterator]: () => runBuild(opts, (s) => (run.summary = s)),
  };
  return run;
}

/** Run a build to the end and return its summary. */
export async function buildAll(opts: BuildOptions): Promise<BuildSummary> {
  const run = build(opts);
  for await (const _ of run) void _;
  return run.summary!;
}

async function* runBuild(o: BuildOptions, done: (s: BuildSummary) => void): AsyncGenerator<PromptResult> {
  const t0 = Date.now();
  const log = o.log ?? ((l: string) => process.stderr.write(l + '\n'));
  const n = o.n ?? 8;
  if (!(Number.isInteger(n) && n >= 1)) throw new UserError(`--n must be an integer ≥ 1, got ${n}`);
  const mix = typeof o.select === 'object' ? o.select : parseSelect(o.select ?? 'plausibility');
  const sel = { mix, min: o.min, top: o.top ?? 1, pairs: o.pairs ?? false, margin: o.margin ?? 0.1 };
  validateSelectOptions(sel);
  const formats = o.formats ?? ['webdataset'];
  for (const f of formats) if (!FORMAT_NAMES.includes(f)) throw new UserError(`--format ${f}: expected ${FORMAT_NAMES.join(', ')}`);
  if (formats.length === 0) throw new UserError('--format: give at least one of ' + FORMAT_NAMES.join(', '));
  if (formats.includes('dpo') && !sel.pairs) throw new UserError('--format dpo needs --pairs (the DPO parquet holds preference pairs)');
  const batchSize = o.batchSize ?? 8;
  if (!(Number.isInteger(batchSize) && batchSize >= 1)) throw new UserError(`--batch-size must be an integer ≥ 1, got ${batchSize}`);
  const concurrency = o.concurrency ?? 2;
  if (!(Number.isInteger(concurrency) && concurrency >= 1)) throw new UserError(`--concurrency must be an integer ≥ 1, got ${concurrency}`);
  const seed = o.seed ?? 0;
  const keywords = o.keywords ?? true;
  const imageType = o.imageType ?? 'png';
  const prompts = typeof o.prompts === 'string' ? readPrompts(o.prompts) : o.prompts;
  dropImageCache();

  const ownGenerator = typeof o.generator === 'string';
  const generator = typeof o.generator === 'string' ? await openGenerator(o.generator, o.generatorOptions) : o.generator;
  let scorer: Scorer | undefined;
  let output: OutputSet | undefined;
  let ok = false;
  let writeFailed = false;
  try {
    const scorerSpec: ScorerSpec | undefined = o.scorer && 'score' in o.scorer ? undefined : (o.scorer as ScorerSpec | undefined);
    const settings: RunSettings = {
      generator: generator.describe,
      n,
      seed,
      select: formatMix(mix),
      min: sel.min ?? null,
      top: sel.top,
      pairs: sel.pairs,
      margin: sel.margin,
      formats: [...formats].sort(),
      imageType,
      keywords,
      scorer: scorerSpec ? { checkpoint: scorerSpec.checkpoint ?? 'bundled', int8: Boolean(scorerSpec.int8) } : { checkpoint: 'given' },
    };
    output = await OutputSet.open({ out: o.out, formats, imageType, settings, model: generator.kind, shardSamples: o.shardSamples, shardBytes: o.shardBytes, commitSeconds: o.commitSeconds });
    for (const p of prompts) {
      const h = output.done.get(p.id);
      if (h !== undefined && h !== promptHash(p.prompt)) {
        throw new UserError(`--prompts line ${p.line}: prompt ${JSON.stringify(p.id)} changed since this --out built it; restore it or choose a new --out`);
      }
    }
    const pending = prompts.filter((p) => !output!.done.has(p.id));
    const todo = o.limit !== undefined ? pending.slice(0, Math.max(0, o.limit)) : pending;
    if (output.resumed) log(`resuming ${path.resolve(o.out)}: ${prompts.length - pending.length} of ${prompts.length} prompts already done`);
    scorer = o.scorer && 'score' in o.scorer ? o.scorer : await openScorerSpec(scorerSpec, log);

    const progress = new Progress(todo.length, 'prompts', { enabled: o.progress ?? true, unit: 'prompts' });
    let candidates = 0;
    let accepted = 0;
    let pairs = 0;
    async function* requests(): AsyncGenerator<GenerateRequest> {
      for (const p of todo) yield { promptId: p.id, promptKey: p.key, prompt: p.prompt, n, seeds: candidateSeeds(seed, p.id, n) };
    }
    const generated = inOrderAhead(requests(), async (req) => {
      const cands = await generator.generate(req);
      if (cands.length === 0) throw new GeneratorError(`${generator.kind} generator returned no images for prompt ${JSON.stringify(req.promptId)}`);
      return { req, candidates: await decodeCandidates(req, cands) };
    }, concurrency);

    for await (const lot of scoreGroups(generated, scorer, batchSize)) {
      for (const f of await finishLot(lot, scorer, sel, keywords, batchSize)) {
        try {
          await output.add(f.outputs, f.record);
        } catch (e) {
          writeFailed = true;
          throw e;
        }
        candidates += f.record.n;
        accepted += f.outputs.accepted.length;
        if (f.outputs.pair) pairs++;
        const secs = (Date.now() - t0) / 1000;
        progress.tick(1, `${(candidates / Math.max(secs, 1e-3)).toFixed(2)} images/s, ${accepted} accepted${sel.pairs ? `, ${pairs} pairs` : ''}`);
        yield f.result;
      }
    }
    await output.close();
    ok = true;
    const report = await writeReport(output.out);
    const seconds = (Date.now() - t0) / 1000;
    done({
      out: output.out,
      prompts: prompts.length,
      skipped: prompts.length - pending.length,
      processed: todo.length,
      remaining: pending.length - todo.length,
      candidates,
      accepted,
      pairs,
      seconds,
      imagesPerSecond: candidates / Math.max(seconds, 1e-9),
      stats: report.stats,
      resumed: output.resumed,
    });
  } finally {
    if (!ok && output) {
      // A failed write leaves the open shard untrustworthy: drop it. Any other stop (a generator fault, the
      // caller breaking off) commits every prompt finished so far, so a rerun resumes after them.
      if (writeFailed) await output.abort();
      else await output.close().catch(() => output!.abort());
      await writeReport(output.out).catch(() => undefined);
    }
    if (ownGenerator) await generator.close().catch(() => undefined);
    if (scorer && !(o.scorer && 'score' in o.scorer)) await scorer.dispose();
  }
}

/** Opens the scorer a spec names: an ONNX export folder as is, anything else through openScorer's cache. */
export async function openScorerSpec(spec: ScorerSpec | undefined, log: (l: string) => void): Promise<Scorer> {
  const { OnnxScorer } = await import('@richhf/reward');
  const fs = await import('fs');
  const ref = spec?.checkpoint;
  // An ONNX export folder (rahf export) is scored as is; anything else goes through openScorer's cache.
  if (ref && fs.existsSync(ref) && fs.statSync(ref).isDirectory() && fs.readdirSync(ref).some((f) => f.endsWith('.rahf.json'))) {
    return OnnxScorer.create(ref, { threads: spec?.threads });
  }
  return openScorer(ref, { engine: spec?.engine, int8: spec?.int8, threads: spec?.threads, cacheDir: spec?.cacheDir, log });
}

