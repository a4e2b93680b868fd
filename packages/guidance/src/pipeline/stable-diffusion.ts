import { randomInt } from 'crypto';
import { UserError } from '@richhf/reward';
import { loadDecoder, type VaeEngine } from '../decoders';
import { type LatentDecoder } from '../decoders/decoder';
import { GaussianGenerator } from '../random';
import { createScheduler, parseSchedulerName, readSchedulerConfig, schedulerFromConfig, schedulerNameOfClass, type SchedulerConfigJson, type SchedulerName } from '../schedulers';
import { type Scheduler } from '../schedulers/scheduler';
import { combineGuidance, rescaleGuidance } from './cfg';
import { ClipTokenizer } from './clip-tokenizer';
import { type GuidanceHook, type StepEndCallback } from './hooks';
import { resolveSdFolder, type FolderOptions, type SdFolder } from './model-folder';
import { OnnxVaeDecoder } from './onnx-vae-decoder';
import { type OrtOptions } from './ort-graph';
import { OnnxTextEncoder, type Embeddings } from './text-encoder';
import { OnnxUNet, type Shape4 } from './unet';

/**
 * Stable Diffusion 1.x / 2.x text-to-image on onnxruntime-node, step for step as diffusers'
 * StableDiffusionPipeline: CLIP prompt embeddings (negative prompt for the unconditional half), initial noise
 * from the seeded Gaussian generator times the scheduler's init σ, per step the UNet on the doubled batch,
 * classifier-free guidance, an optional hook, the scheduler's step, an optional step-end callback, and the VAE
 * decode of the final latents. The pipeline holds one scheduler, so one generate() runs at a time per instance.
 */

export interface FromPretrainedOptions extends OrtOptions, FolderOptions {
  /**
   * ddim | euler | euler-a | ddpm configured from the folder's scheduler config, or a scheduler instance.
   * Default: the config's class (a class without a port here, e.g. SD 1.5's PNDM, gives DDIM on the same schedule).
   */
  scheduler?: SchedulerName | Scheduler;
  /** A decoder to use instead of vae_decoder/model.onnx. */
  decoder?: LatentDecoder;
  /** A diffusers VAE folder or hub id (AutoencoderKL, TAESD) to decode with instead of vae_decoder/. */
  vae?: string;
  vaeEngine?: VaeEngine;
  /** Override the tokenizer's model_max_length (prompt length in tokens, specials included). */
  maxTokens?: number;
}

export interface GenerateOptions {
  /** One prompt, or one per image group (each gets `numImagesPerPrompt` images). */
  prompt?: string | readonly string[];
  /** For the unconditional half: one for all, or one per prompt (default ""). */
  negativePrompt?: string | readonly string[];
  /** Precomputed text embeddings `[prompts, seq, hidden]` instead of `prompt` (diffusers' prompt_embeds). */
  promptEmbeds?: Embeddings;
  negativePromptEmbeds?: Embeddings;
  numImagesPerPrompt?: number;
  /** Image size in pixels, multiples of 8 (default: unet/config.json sample_size × the VAE factor, else 512). */
  height?: number;
  width?: number;
  /** Denoising steps (default 50). */
  steps?: number;
  /** Classifier-free guidance scale; ≤ 1 runs the conditional branch alone (default 7.5). */
  guidanceScale?: number;
  /** Rescale of the guided prediction toward the conditional one's std (diffusers' guidance_rescale, default 0). */
  guidanceRescale?: number;
  /** DDIM's η (default 0). */
  eta?: number;
  /** Scheduler for this call (name → configured from the folder's config; default the pipeline's). */
  scheduler?: SchedulerName | Scheduler;
  /**
   * One seed per image, or a first seed (image i gets seed + i). Default: random seeds, reported back. With
   * `latents` and no seed, a stochastic scheduler's step noise comes from the scheduler's own generator.
   */
  seed?: number | readonly number[];
  /** Initial noise `[images, C, h, w]` instead of drawing it (it is multiplied by the scheduler's init σ, as diffusers does). */
  latents?: Float32Array;
  hook?: GuidanceHook;
  onStepEnd?: StepEndCallback;
  /** After each step: (steps done, total). */
  onProgress?: (done: number, total: number) => void;
  /** 'pixels' (default): decode; 'latents': stop before the decoder. */
  output?: 'pixels' | 'latents';
}

export interface GenerateResult {
  /** NHWC pixels in [0, 1], `imageShape` [images, H, W, 3] (absent with output 'latents'). */
  images?: Float32Array;
  imageShape?: [number, number, number, number];
  /** The final latents (unscaled, NCHW). */
  latents: Float32Array;
  latentShape: Shape4;
  /** Per image: its prompt and seed (undefined when `latents` were given). */
  prompts: string[];
  seeds: (number | undefined)[];
  scheduler: SchedulerName;
  /** Seconds spent in the text encoder, the UNet, the whole denoising loop, the decoder, and overall. */
  timings: { textEncoder: number; unet: number; loop: number; decode: number; total: number; steps: number };
}

const now = () => performance.now() / 1000;

export class StableDiffusion {
  private constructor(
    readonly folder: SdFolder,
    readonly textEncoder: OnnxTextEncoder,
    readonly unet: OnnxUNet,
    readonly tokenizer: ClipTokenizer | undefined,
    readonly decoder: LatentDecoder | undefined,
    /** The default scheduler and the config scheduler names are built from. */
    public scheduler: Scheduler,
    readonly schedulerConfig: SchedulerConfigJson,
    /** Set when the folder's scheduler class has no port and another was chosen. */
    readonly schedulerNote: string | undefined,
    private readonly ownsDecoder: boolean,
  ) {}

  /** Load an optimum-layout folder or hub id (see model-folder.ts). Every missing or unfit part is a one-line UserError. */
  static async fromPretrained(dirOrHubId: string, opts: FromPretrainedOptions = {}): Promise<StableDiffusion> {
    if (opts.vae !== undefined && opts.decoder) throw new UserError('vae and decoder: give one of them');
    const folder = await resolveSdFolder(dirOrHubId, opts);
    const config = folder.schedulerConfig ? readSchedulerConfig(folder.schedulerConfig) : undefined;
    let scheduler: Scheduler;
    let note: string | undefined;
    if (opts.scheduler && typeof opts.scheduler !== 'string') scheduler = opts.scheduler;
    else {
      if (!config) throw new UserError(`${folder.dir}: no scheduler/scheduler_config.json (the noise schedule the model was trained with); pass a scheduler instance`);
      const src = folder.schedulerConfig;
      if (opts.scheduler) scheduler = createScheduler(parseSchedulerName(opts.scheduler), config, { source: src });
      else {
        if (!schedulerNameOfClass(config._class_name)) note = `${src}: ${String(config._class_name)} has no port here; sampling with DDIM on its noise schedule`;
        scheduler = schedulerFromConfig(config, { source: src, fallback: 'ddim' });
      }
    }
    const parts: Array<{ release?: () => Promise<void>; dispose?: () => Promise<void> }> = [];
    try {
      const textEncoder = await OnnxTextEncoder.load(folder.textEncoder, opts);
      parts.push(textEncoder);
      const unet = await OnnxUNet.load(folder.unet, opts, folder.unetConfig);
      parts.push(unet);
      const tokenizer = folder.tokenizerDir ? ClipTokenizer.fromDir(folder.tokenizerDir, { maxLength: opts.maxTokens }) : undefined;
      const hidden = textEncoder.hiddenSize;
      if (hidden !== undefined && unet.crossAttentionDim !== undefined && hidden !== unet.crossAttentionDim) {
        throw new UserError(`${folder.unet}: cross-attention takes ${unet.crossAttentionDim}-wide text embeddings but ${folder.textEncoder} gives ${hidden}`);
      }
      let decoder = opts.decoder;
      let owns = false;
      if (!decoder && opts.vae !== undefined) {
        decoder = await loadDecoder(opts.vae, { engine: opts.vaeEngine, threads: opts.threads, offline: opts.offline, cacheDir: opts.cacheDir });
        owns = true;
      } else if (!decoder && folder.vaeDecoderDir) {
        decoder = await OnnxVaeDecoder.load(folder.vaeDecoderDir, opts);
        owns = true;
      }
      if (decoder && decoder.latentChannels !== unet.inChannels) {
        const which = opts.vae ?? folder.vaeDecoderDir ?? 'decoder';
        if (owns) await decoder.dispose();
        throw new UserError(`${which}: the decoder takes ${decoder.latentChannels}-channel latents but ${folder.unet} makes ${unet.inChannels}`);
      }
      return new StableDiffusion(folder, textEncoder, unet, tokenizer, decoder, scheduler, config ?? scheduler.config, note, owns);
    } catch (e) {
      for (const p of parts) await (p.release ?? p.dispose)?.call(p);
      throw e;
    }
  }

  /** Pixels per latent (the decoder's; 8 without one, as every SD VAE). */
  get vaeScaleFactor(): number {
    return this.decoder?.upscale ?? 8;
  }

  /** Default image side: unet/config.json sample_size × the VAE factor, else the graph's fixed size, else 512. */
  get defaultSize(): { height: number; width: number } {
    const s = this.folder.unetConfig.sample_size;
    const f = this.vaeScaleFactor;
    if (typeof s === 'number') return { height: s * f, width: s * f };
    const h = this.unet.graph.dim('sample', 2);
    const w = this.unet.graph.dim('sample', 3);
    return h && w ? { height: h * f, width: w * f } : { height: 512, width: 512 };
  }

  /** Text embeddings of prompts (tokenized to model_max_length as diffusers does). */
  async encodePrompt(prompts: readonly string[]): Promise<Embeddings> {
    if (!this.tokenizer) throw new UserError(`${this.folder.dir}: no tokenizer/ (vocab.json + merges.txt or tokenizer.json); pass promptEmbeds instead of prompts`);
    return this.textEncoder.encode(this.tokenizer.encode(prompts));
  }

  /** A scheduler by name on the folder's noise schedule (or the given instance). */
  schedulerFor(choice: SchedulerName | Scheduler | undefined): Scheduler {
    if (choice === undefined) return this.scheduler;
    if (typeof choice !== 'string') return choice;
    return createScheduler(parseSchedulerName(choice), this.schedulerConfig, { source: this.folder.schedulerConfig });
  }

  async generate(opts: GenerateOptions): Promise<GenerateResult> {
    const t0 = now();
    const plan = this.plan(opts);
    const { images, shape, scheduler, cfg, steps } = plan;
    const timings = { textEncoder: 0, unet: 0, loop: 0, decode: 0, total: 0, steps };

    // Text conditioning: [uncond; cond] per image, as the UNet's doubled batch takes it.
    let t = now();
    const cond = repeatRows(opts.promptEmbeds ?? (await this.encodePrompt(plan.groupPrompts)), plan.perPrompt);
    let context = cond;
    if (cfg) {
      const negatives = plan.negatives;
      let uncond = opts.negativePromptEmbeds ?? (await this.textEncoder.encode(this.tokenizerOrThrow().encode(negatives, cond.shape[1])));
      if (uncond.shape[0] === 1 && plan.groups > 1) uncond = repeatRows(uncond, plan.groups);
      uncond = repeatRows(uncond, plan.perPrompt);
      if (uncond.shape[1] !== cond.shape[1] || uncond.shape[2] !== cond.shape[2]) {
        throw new UserError(`negativePromptEmbeds: shape [${uncond.shape}] does not match the prompt embeddings [${cond.shape}]`);
      }
      context = concatRows(uncond, cond);
    }
    timings.textEncoder = now() - t;

    // Initial noise: each image from its own generator, so it does not depend on the rest of the batch.
    const per = shape[1] * shape[2] * shape[3];
    const generators = plan.seeds.map((s) => (s === undefined ? undefined : new GaussianGenerator(s)));
    let latents: Float32Array = new Float32Array(images * per);
    if (opts.latents) latents.set(opts.latents);
    else generators.forEach((g, i) => g!.fill(latents.subarray(i * per, (i + 1) * per)));
    const sigma0 = Math.fround(scheduler.initNoiseSigma);
    if (sigma0 !== 1) latents = latents.map((v) => v * sigma0);
    const stepNoise = generators.every((g) => g) ? (generators as GaussianGenerator[]) : undefined;

    scheduler.setTimesteps(steps);
    const loopStart = now();
    const doubled: Shape4 = [cfg ? 2 * images : images, shape[1], shape[2], shape[3]];
    // UNet on the doubled batch, then classifier-free guidance (also what a hook's `predict` re-runs).
    const model = async (x: Float32Array, ts: number) => {
      const scaled = scheduler.scaleModelInput(cfg ? concat(x, x) : x, ts);
      const t1 = now();
      const raw = await this.unet.predict(scaled, doubled, ts, context);
      timings.unet += now() - t1;
      const uncondOut = cfg ? raw.subarray(0, images * per) : undefined;
      const condOut = cfg ? raw.subarray(images * per) : raw;
      let modelOutput = cfg ? combineGuidance(uncondOut!, condOut, plan.guidanceScale) : condOut;
      if (cfg && plan.guidanceRescale > 0) modelOutput = rescaleGuidance(modelOutput, condOut, plan.guidanceRescale, images);
      return { modelOutput, uncondOut, condOut };
    };
    for (const [i, ts] of scheduler.timesteps.entries()) {
      const { modelOutput, uncondOut, condOut } = await model(latents, ts);
      const ctx = {
        step: i,
        numSteps: steps,
        t: ts,
        noiseLevel: scheduler.noiseLevel(ts),
        sample: latents,
        shape,
        modelOutput,
        modelOutputUncond: uncondOut,
        modelOutputCond: cfg ? condOut : undefined,
        guidanceScale: plan.guidanceScale,
        scheduler,
        prompts: plan.prompts,
        predict: async (x: Float32Array) => (await model(sameSize('predict', x, latents), ts)).modelOutput,
      };
      if (opts.hook) {
        const r = await opts.hook(ctx);
        if (r instanceof Float32Array) ctx.modelOutput = sameSize('hook', r, latents);
        else if (r) {
          ctx.modelOutput = sameSize('hook', r.modelOutput, latents);
          if (r.sample) latents = ctx.sample = sameSize('hook sample', r.sample, latents);
        }
      }
      const out = scheduler.step(ctx.modelOutput, ts, latents, { generator: stepNoise, eta: opts.eta });
      latents = out.prevSample;
      if (opts.onStepEnd) latents = sameSize('onStepEnd', (await opts.onStepEnd({ ...ctx, latents, predOriginalSample: out.predOriginalSample })) ?? latents, latents);
      opts.onProgress?.(i + 1, steps);
    }
    timings.loop = now() - loopStart;

    const result: GenerateResult = { latents, latentShape: shape, prompts: plan.prompts, seeds: plan.seeds, scheduler: scheduler.name, timings };
    if (plan.output === 'pixels') {
      t = now();
      result.images = await this.decoder!.decode(latents, shape);
      result.imageShape = [images, shape[2] * this.vaeScaleFactor, shape[3] * this.vaeScaleFactor, 3];
      timings.decode = now() - t;
    }
    timings.total = now() - t0;
    return result;
  }

  private tokenizerOrThrow(): ClipTokenizer {
    if (!this.tokenizer) throw new UserError(`${this.folder.dir}: no tokenizer/ (vocab.json + merges.txt or tokenizer.json); pass promptEmbeds and negativePromptEmbeds`);
    return this.tokenizer;
  }

  /** Every option checked, before any model runs (so a refusal leaves nothing half done). */
  private plan(opts: GenerateOptions) {
    const int = (name: string, v: number, min: number) => {
      if (!Number.isInteger(v) || v < min) throw new UserError(`${name} ${v}: expected an integer ≥ ${min}`);
      return v;
    };
    const steps = int('steps', opts.steps ?? 50, 1);
    const perPrompt = int('numImagesPerPrompt', opts.numImagesPerPrompt ?? 1, 1);
    const guidanceScale = opts.guidanceScale ?? 7.5;
    if (!Number.isFinite(guidanceScale)) throw new UserError(`guidanceScale ${guidanceScale}: expected a number`);
    const guidanceRescale = opts.guidanceRescale ?? 0;
    if (!(guidanceRescale >= 0 && guidanceRescale <= 1)) throw new UserError(`guidanceRescale ${guidanceRescale}: expected a number in [0, 1]`);
    if (opts.eta !== undefined && !(opts.eta >= 0)) throw new UserError(`eta ${opts.eta}: expected a number ≥ 0`);
    const cfg = guidanceScale > 1;
    const scheduler = this.schedulerFor(opts.scheduler);
    const nTrain = Number(scheduler.config.num_train_timesteps ?? 1000);
    if (steps > nTrain) throw new UserError(`steps ${steps}: more than the scheduler's ${nTrain} training timesteps`);

    // Prompts or embeddings.
    if (opts.promptEmbeds && opts.prompt !== undefined) throw new UserError('prompt and promptEmbeds: give one of them');
    let groupPrompts: string[];
    if (opts.promptEmbeds) {
      checkEmbeds('promptEmbeds', opts.promptEmbeds);
      groupPrompts = new Array<string>(opts.promptEmbeds.shape[0]).fill('');
    } else {
      if (opts.prompt === undefined) throw new UserError('prompt: required (or promptEmbeds)');
      groupPrompts = typeof opts.prompt === 'string' ? [opts.prompt] : [...opts.prompt];
      if (groupPrompts.length === 0) throw new UserError('prompt: an empty list');
      this.tokenizerOrThrow();
    }
    const groups = groupPrompts.length;
    const neg = opts.negativePrompt ?? '';
    const negatives = typeof neg === 'string' ? new Array<string>(groups).fill(neg) : [...neg];
    if (negatives.length !== groups) throw new UserError(`negativePrompt: ${negatives.length} for ${groups} prompts`);
    if (cfg && !opts.negativePromptEmbeds) {
      if (opts.promptEmbeds) throw new UserError('negativePromptEmbeds: required with promptEmbeds when guidanceScale > 1');
    }
    if (opts.negativePromptEmbeds) {
      checkEmbeds('negativePromptEmbeds', opts.negativePromptEmbeds);
      if (![1, groups].includes(opts.negativePromptEmbeds.shape[0])) throw new UserError(`negativePromptEmbeds: ${opts.negativePromptEmbeds.shape[0]} rows for ${groups} prompts`);
    }
    const images = groups * perPrompt;
    const prompts = groupPrompts.flatMap((p) => new Array<string>(perPrompt).fill(p));

    // Size.
    const f = this.vaeScaleFactor;
    const dflt = this.defaultSize;
    const height = int('height', opts.height ?? dflt.height, 8);
    const width = int('width', opts.width ?? dflt.width, 8);
    for (const [name, v] of [['height', height], ['width', width]] as const) {
      if (v % 8 !== 0 || v % f !== 0) throw new UserError(`${name} ${v}: not a multiple of ${Math.max(8, f)}`);
    }
    const shape: Shape4 = [images, this.unet.inChannels, height / f, width / f];

    // Noise source.
    let seeds: (number | undefined)[];
    if (opts.latents) {
      const n = shape.reduce((a, b) => a * b, 1);
      if (opts.latents.length !== n) throw new UserError(`latents: ${opts.latents.length} values; [${shape}] (images, channels, height/${f}, width/${f}) needs ${n}`);
      seeds = opts.seed === undefined ? new Array(images).fill(undefined) : seedList(opts.seed, images);
    } else seeds = seedList(opts.seed ?? randomInt(0, 2 ** 31), images);

    const output = opts.output ?? 'pixels';
    if (output !== 'pixels' && output !== 'latents') throw new UserError(`output '${output}': expected pixels or latents`);
    if (output === 'pixels' && !this.decoder) throw new UserError(`${this.folder.dir}: no vae_decoder/model.onnx; pass a decoder (vae option) or ask for output 'latents'`);
    return { steps, perPrompt, guidanceScale, guidanceRescale, cfg, scheduler, groupPrompts, groups, negatives, images, prompts, shape, seeds, output };
  }

  /** Release every session this pipeline opened (a decoder passed in stays the caller's). */
  async dispose(): Promise<void> {
    await this.textEncoder.release();
    await this.unet.release();
    if (this.ownsDecoder) await this.decoder?.dispose();
  }
}

function seedList(seed: number | readonly number[], n: number): number[] {
  const list = typeof seed === 'number' ? Array.from({ length: n }, (_, i) => seed + i) : [...seed];
  if (list.length !== n) throw new UserError(`seed: ${list.length} seeds for ${n} images`);
  for (const s of list) if (!Number.isSafeInteger(s) || s < 0) throw new UserError(`seed ${s}: expected an integer ≥ 0`);
  return list;
}

function checkEmbeds(name: string, e: Embeddings): void {
  const [b, s, h] = e.shape;
  if (![b, s, h].every((d) => Number.isInteger(d) && d > 0) || e.data.length !== b * s * h) throw new UserError(`${name}: shape [${e.shape}] does not fit ${e.data.length} values`);
}

function sameSize(what: string, value: Float32Array, like: Float32Array): Float32Array {
  if (value.length !== like.length) throw new RangeError(`${what} returned ${value.length} values for ${like.length}`);
  return value;
}

function concat(a: Float32Array, b: Float32Array): Float32Array {
  const out = new Float32Array(a.length + b.length);
  out.set(a);
  out.set(b, a.length);
  return out;
}

/** Each row (prompt) repeated `k` times in place: diffusers' prompt_embeds.repeat(1, k, 1).view(b·k, s, h). */
function repeatRows(e: Embeddings, k: number): Embeddings {
  if (k === 1) return e;
  const [b, s, h] = e.shape;
  const row = s * h;
  const out = new Float32Array(b * k * row);
  for (let i = 0; i < b; i++) for (let j = 0; j < k; j++) out.set(e.data.subarray(i * row, (i + 1) * row), (i * k + j) * row);
  return { data: out, shape: [b * k, s, h] };
}

function concatRows(a: Embeddings, b: Embeddings): Embeddings {
  return { data: concat(a.data, b.data), shape: [a.shape[0] + b.shape[0], a.shape[1], a.shape[2]] };
}
