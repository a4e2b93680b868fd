import { Candidate, GenerateRequest, Generator, GeneratorError, type GeneratorOptions } from '../generator';
import { baseUrl, HttpOptions, requestJson } from './http';

/** What the A1111 API's `info` (a JSON string in the response) tells about a batch. */
interface A1111Info {
  all_seeds?: number[];
  seed?: number;
  index_of_first_image?: number;
  [k: string]: unknown;
}

/** Settings recorded with each image (the rest of `info` is per-request noise: prompts, infotexts, …). */
const KEPT = ['sd_model_name', 'sd_model_hash', 'sampler_name', 'scheduler', 'steps', 'cfg_scale', 'width', 'height', 'denoising_strength', 'clip_skip', 'restore_faces'];

export interface InpaintRequest extends GenerateRequest {
  /** The image to repaint and its mask (white = repaint), encoded (PNG…). */
  image: Uint8Array;
  mask: Uint8Array;
  /** img2img fields (denoising_strength, inpainting_fill, mask_blur, inpaint_full_res…) over the defaults. */
  params?: Record<string, unknown>;
}

/**
 * The AUTOMATIC1111 web UI API (started with --api): `POST /sdapi/v1/txt2img` for candidates, and
 * `POST /sdapi/v1/img2img` with a mask for inpainting. A prompt's N candidates are one request of
 * `batch_size` N (or `n_iter` batches of the `batch_size` given with --param), with `seed` = the first
 * candidate seed: A1111 gives a batch the seeds seed, seed+1, …, and reports them in `info.all_seeds`.
 * Extra `--param` fields (steps, cfg_scale, width, height, sampler_name, override_settings…) pass through.
 */
export class A1111Generator implements Generator {
  readonly kind = 'a1111';
  readonly describe: Record<string, unknown>;
  private readonly url: string;
  private readonly params: Record<string, unknown>;
  private readonly http: Omit<HttpOptions, 'signal'>;

  constructor(url: string, opts: GeneratorOptions & { retryDelayMs?: number } = {}) {
    this.url = baseUrl('a1111', url);
    this.params = opts.params ?? {};
    this.http = { label: `a1111 ${this.url}`, timeoutMs: (opts.timeoutSeconds ?? 600) * 1000, retries: opts.retries, retryDelayMs: opts.retryDelayMs };
    this.describe = { kind: this.kind, url: this.url, params: this.params };
  }

  private batchFields(n: number, seed: number): Record<string, unknown> {
    const given = Number(this.params.batch_size);
    const batch = Number.isInteger(given) && given > 0 ? Math.min(given, n) : n;
    return { seed, batch_size: batch, n_iter: Math.ceil(n / batch), send_images: true, save_images: false };
  }

  async generate(req: GenerateRequest): Promise<Candidate[]> {
    const body = { ...this.params, prompt: req.prompt, ...this.batchFields(req.n, req.seeds[0]) };
    const res = await requestJson(`${this.url}/sdapi/v1/txt2img`, body, { ...this.http, signal: req.signal });
    return this.candidates(req, res, 'txt2img');
  }

  /** Inpainting through img2img with a mask: N repaintings of `image` where `mask` is white. */
  async inpaint(req: InpaintRequest): Promise<Candidate[]> {
    const b64 = (b: Uint8Array) => Buffer.from(b.buffer, b.byteOffset, b.length).toString('base64');
    const body = {
      denoising_strength: 0.75,
      inpainting_fill: 1, // start from the original pixels under the mask
      inpaint_full_res: false,
      ...this.params,
      ...req.params,
      prompt: req.prompt,
      init_images: [b64(req.image)],
      mask: b64(req.mask),
      ...this.batchFields(req.n, req.seeds[0]),
    };
    const res = await requestJson(`${this.url}/sdapi/v1/img2img`, body, { ...this.http, signal: req.signal });
    return this.candidates(req, res, 'img2img');
  }

  private candidates(req: GenerateRequest, res: unknown, route: string): Candidate[] {
    const where = `${this.http.label}/sdapi/v1/${route}`;
    const bad = (why: string) => new GeneratorError(`${where}: unexpected answer for prompt ${JSON.stringify(req.promptId)}: ${why}`);
    const r = res as { images?: unknown; info?: unknown };
    if (!r || typeof r !== 'object' || !Array.isArray(r.images)) throw bad('no "images" list');
    let info: A1111Info = {};
    if (typeof r.info === 'string') {
      try {
        info = JSON.parse(r.info);
      } catch {
        throw bad('"info" is not JSON');
      }
    } else if (r.info && typeof r.info === 'object') info = r.info as A1111Info;
    // With the "return grid" option on, images[0] is the grid of the batch (info says where the samples start).
    const first = Number.isInteger(info.index_of_first_image) ? info.index_of_first_image! : 0;
    const images = r.images.slice(first, first + req.n);
    if (images.length < req.n) throw bad(`${r.images.length} images for ${req.n} candidates`);
    const settings: Record<string, unknown> = { generator: 'a1111', route };
    for (const k of KEPT) if (info[k] !== undefined) settings[k] = info[k];
    return images.map((img, k): Candidate => {
      if (typeof img !== 'string') throw bad(`image ${k} is not a base64 string`);
      const bytes = new Uint8Array(Buffer.from(img.replace(/^data:[^,]*,/, ''), 'base64'));
      if (bytes.length === 0) throw bad(`image ${k} is empty`);
      const seed = Array.isArray(info.all_seeds) && Number.isFinite(info.all_seeds[k]) ? info.all_seeds[k] : req.seeds[k];
      return { index: k, seed, bytes, settings, source: `${where}#${k}` };
    });
  }

  async close(): Promise<void> {}
}
