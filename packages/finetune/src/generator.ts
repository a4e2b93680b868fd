import { UserError, type RgbImage } from '@richhf/reward';

/**
 * The one contract every image source meets: a prompt, N, seeds → N candidate images, each with the seed
 * and settings that made it. Adapters (folder, AUTOMATIC1111, ComfyUI, the in-process SD pipeline, the
 * synthetic-world generator) differ only in how they fill it.
 */
export interface GenerateRequest {
  /** The prompt's id (as in the prompts file) and its file-name-safe key. */
  promptId: string;
  promptKey: string;
  prompt: string;
  n: number;
  /** Seeds to use, one per candidate (see candidateSeeds); an adapter reports the seeds it actually used. */
  seeds: number[];
  /** Aborts a request in flight (the run is stopping). */
  signal?: AbortSignal;
}

export interface Candidate {
  /** Position among the prompt's candidates, from 0 (part of the sample key). */
  index: number;
  /** The seed that made it; null when the source does not know (pre-generated files without a sidecar). */
  seed: number | null;
  /** The encoded image as the generator returned it (PNG, JPEG, WebP…: anything sharp reads). */
  bytes: Uint8Array;
  /** Its decoded pixels, when the generator has them anyway (saves a decode before scoring). */
  pixels?: RgbImage;
  /** Generator settings for this image (model, steps, sampler, cfg, size…), recorded in the outputs. */
  settings: Record<string, unknown>;
  /** Where it came from (a file path, a URL), for messages. */
  source: string;
}

export interface Generator {
  /** `folder`, `a1111`, `comfyui`, `sd-ort`, `synth`, … */
  readonly kind: string;
  /** What identifies this generator's outputs across runs (recorded in run.json; not secrets). */
  readonly describe: Record<string, unknown>;
  generate(req: GenerateRequest): Promise<Candidate[]>;
  close(): Promise<void>;
}

/**
 * A failure of the image source (unreachable server, error response, undecodable image). Its message is
 * one line naming the generator and the prompt; the builder commits what it has and stops, and a rerun
 * resumes at that prompt. Exit code 3 tells a supervisor "the source failed" from "bad input" (1).
 */
export class GeneratorError extends UserError {
  constructor(message: string, readonly retryable = false) {
    super(message, 3);
    this.name = 'GeneratorError';
  }
}

/** Options some generators read (the CLI passes its flags through). */
export interface GeneratorOptions {
  /** ComfyUI: the API-format workflow JSON whose prompt and seed inputs are patched. */
  workflow?: string;
  /** Settings sent with every request (A1111: txt2img fields such as steps, cfg_scale, width, height). */
  params?: Record<string, unknown>;
  /** Seconds before one request is abandoned (HTTP generators). */
  timeoutSeconds?: number;
  /** Tries per request for transient failures (HTTP generators; default 3). */
  retries?: number;
}
