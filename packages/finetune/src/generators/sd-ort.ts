import type { GuidanceHook, StableDiffusion } from '@richhf/guidance';
import { Candidate, GenerateRequest, Generator, GeneratorError, type GeneratorOptions } from '../generator';

/** Sampling settings (--param steps=…, guidance_scale, height, width, scheduler, negative_prompt). */
export interface SdOrtSettings {
  steps?: number;
  guidanceScale?: number;
  height?: number;
  width?: number;
  scheduler?: string;
  negativePrompt?: string;
  /** Reward (or any) guidance applied at each step: @richhf/guidance's hook contract. */
  hook?: GuidanceHook;
  threads?: number;
}

function fromParams(p: Record<string, unknown> = {}): SdOrtSettings {
  const num = (k: string) => (p[k] === undefined ? undefined : Number(p[k]));
  return {
    steps: num('steps'),
    guidanceScale: num('guidance_scale') ?? num('cfg_scale'),
    height: num('height'),
    width: num('width'),
    scheduler: p.scheduler === undefined ? undefined : String(p.scheduler),
    negativePrompt: p.negative_prompt === undefined ? undefined : String(p.negative_prompt),
    threads: num('threads'),
  };
}

/**
 * The in-process Stable Diffusion pipeline of @richhf/guidance (an optimum-layout ONNX folder or hub id, run by
 * onnxruntime-node): a prompt's N candidates are one `generate` call with `numImagesPerPrompt` N and the N
 * candidate seeds (each image has its own seeded noise, so a candidate does not depend on its batch). A
 * guidance hook, when given, steers every step. Pixels go to the scorer as they are; PNG bytes to the writers.
 */
export class SdOrtGenerator implements Generator {
  readonly kind = 'sd-ort';
  readonly describe: Record<string, unknown>;

  private constructor(
    private readonly pipe: StableDiffusion,
    private readonly encodePng: (px: Float32Array, shape: [number, number, number, number], i: number) => Promise<Buffer>,
    private readonly s: SdOrtSettings,
    dir: string,
  ) {
    const { hook, threads: _t, ...rest } = s;
    this.describe = { kind: this.kind, model: dir, ...rest, guided: Boolean(hook) };
  }

  /** `--param` settings, overridden by `settings` (the library's way to pass a guidance hook). */
  static async open(dir: string, opts: GeneratorOptions = {}, settings: SdOrtSettings = {}): Promise<SdOrtGenerator> {
    // Loaded only for this generator: builds that never use it need no Stable Diffusion runtime.
    const guidance = await import('@richhf/guidance');
    const s: SdOrtSettings = { ...fromParams(opts.params), ...Object.fromEntries(Object.entries(settings).filter(([, v]) => v !== undefined)) };
    const pipe = await guidance.StableDiffusion.fromPretrained(dir, { threads: s.threads, scheduler: s.scheduler as never });
    return new SdOrtGenerator(pipe, guidance.encodePng, s, dir);
  }

  async generate(req: GenerateRequest): Promise<Candidate[]> {
    let r;
    try {
      r = await this.pipe.generate({
        prompt: req.prompt,
        negativePrompt: this.s.negativePrompt,
        numImagesPerPrompt: req.n,
        seed: req.seeds,
        steps: this.s.steps,
        guidanceScale: this.s.guidanceScale,
        height: this.s.height,
        width: this.s.width,
        hook: this.s.hook,
      });
    } catch (e) {
      throw new GeneratorError(`sd-ort: prompt ${JSON.stringify(req.promptId)}: ${(e as Error).message.split('\n')[0]}`);
    }
    const shape = r.imageShape!;
    const [, h, w] = shape;
    const per = h * w * 3;
    const settings = { generator: 'sd-ort', scheduler: r.scheduler, steps: r.timings.steps, guidance_scale: this.s.guidanceScale ?? 7.5, width: w, height: h, guided: Boolean(this.s.hook) };
    return Promise.all(
      Array.from({ length: req.n }, async (_, k): Promise<Candidate> => ({
        index: k,
        seed: r.seeds[k] ?? req.seeds[k],
        bytes: new Uint8Array(await this.encodePng(r.images!, shape, k)),
        pixels: { data: r.images!.slice(k * per, (k + 1) * per), width: w, height: h },
        settings,
        source: `sd-ort#${req.promptKey}/${k}`,
      })),
    );
  }

  async close(): Promise<void> {
    await this.pipe.dispose();
  }
}
