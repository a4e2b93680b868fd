/**
 * `--generator synth[:DIR]`: the scene-token masked transformer as a generator of the part-1 contract.
 * Each candidate is a rendered scene (PNG) whose scene tokens ride in its settings (`tokens`, recorded
 * beside every kept image — the token sidecar finetuning reads). Requests that arrive while the model is
 * busy are decoded together in one batch (the builder keeps two prompts in flight; 16 rows per run is far
 * cheaper than two runs of 8); a row's tokens do not depend on what it is batched with.
 */
import sharp from 'sharp';
import { UserError, type RgbImage } from '@richhf/reward';
import type { PromptSpec } from '@richhf/reward/data';
import type { Candidate, GenerateRequest, Generator } from '../generator';
import type { GeneratorOptions } from '../generators/open';
import { BUNDLED_SYNTH_GENERATOR, SynthModel } from './checkpoint';
import { decodeScenes, type DecodeItem, type DecodeOptions } from './sample';
import { renderTokens, synthPrompt, tokensToText, type RenderedSample } from './scenes';
import { promptTokens } from './tokens';

export interface SynthSettings extends DecodeOptions {
  threads?: number;
}

type NumericSetting = 'steps' | 'guidance' | 'temperature' | 'choiceTemperature' | 'threads' | 'batch';

/** `--param steps=8 --param guidance=0 --param temperature=1 --param choice_temperature=… --param confidence=sampled|position --param threads=2`. */
export function synthSettings(params: Record<string, unknown> = {}): SynthSettings {
  const known: Record<string, NumericSetting> = { steps: 'steps', guidance: 'guidance', temperature: 'temperature', choice_temperature: 'choiceTemperature', threads: 'threads', batch: 'batch' };
  const out: SynthSettings = {};
  for (const [k, v] of Object.entries(params)) {
    if (k === 'confidence') {
      if (v !== 'sampled' && v !== 'position') throw new UserError(`--param confidence=${String(v)}: expected sampled or position`);
      out.confidence = v;
      continue;
    }
    const key = known[k];
    if (!key) throw new UserError(`--param ${k}: the synth generator takes ${[...Object.keys(known), 'confidence'].join(', ')}`);
    if (typeof v !== 'number' || !Number.isFinite(v)) throw new UserError(`--param ${k}=${String(v)}: expected a number`);
    out[key] = v;
  }
  return out;
}

export async function pngOf(s: { rgb: Uint8Array; scene: { width: number; height: number } }): Promise<Uint8Array> {
  const { width, height } = s.scene;
  return new Uint8Array(await sharp(Buffer.from(s.rgb.buffer, s.rgb.byteOffset, s.rgb.length), { raw: { width, height, channels: 3 } }).png().toBuffer());
}

export const rgbImageOf = (s: { rgb: Uint8Array; scene: { width: number; height: number } }): RgbImage => ({
  data: Float32Array.from(s.rgb, (v) => v / 255),
  width: s.scene.width,
  height: s.scene.height,
});

export class SynthGenerator implements Generator {
  readonly kind = 'synth';
  readonly describe: Record<string, unknown>;
  private queue: Array<{ items: DecodeItem[]; resolve: (t: Int32Array[]) => void; reject: (e: unknown) => void }> = [];
  private running = false;

  private constructor(
    readonly model: SynthModel,
    readonly settings: SynthSettings,
    checkpoint: string,
  ) {
    const { threads: _t, batch: _b, ...decoding } = settings;
    void _t, _b;
    this.describe = { kind: this.kind, checkpoint, weights: model.digest, ...decoding };
  }

  /** `dir` a checkpoint folder ('' or 'bundled': the bundled generator). */
  static async open(dir: string, opts: GeneratorOptions = {}): Promise<SynthGenerator> {
    const settings = synthSettings(opts.params);
    const model = await SynthModel.open(dir || undefined, settings.threads);
    return new SynthGenerator(model, settings, dir && dir !== 'bundled' ? dir : 'bundled');
  }

  static fromModel(model: SynthModel, settings: SynthSettings = {}, name = 'given'): SynthGenerator {
    return new SynthGenerator(model, settings, name);
  }

  /** Scene tokens for decode items, batched with whatever else is waiting. */
  decode(items: DecodeItem[]): Promise<Int32Array[]> {
    return new Promise((resolve, reject) => {
      this.queue.push({ items, resolve, reject });
      if (!this.running) void this.drain();
    });
  }

  private async drain(): Promise<void> {
    this.running = true;
    try {
      while (this.queue.length > 0) {
        const cap = this.settings.batch ?? 128;
        const lot: typeof this.queue = [];
        let rows = 0;
        while (this.queue.length > 0 && (lot.length === 0 || rows + this.queue[0].items.length <= cap)) {
          rows += this.queue[0].items.length;
          lot.push(this.queue.shift()!);
        }
        try {
          const out = await decodeScenes(this.model, lot.flatMap((r) => r.items), this.settings);
          let at = 0;
          for (const r of lot) {
            r.resolve(out.slice(at, at + r.items.length));
            at += r.items.length;
          }
        } catch (e) {
          for (const r of lot) r.reject(e);
        }
      }
    } finally {
      this.running = false;
    }
  }

  /** N rendered samples of a prompt spec, one per seed. */
  async sample(prompt: PromptSpec, seeds: number[]): Promise<RenderedSample[]> {
    const pt = promptTokens(prompt);
    const tokens = await this.decode(seeds.map((seed) => ({ prompt: pt, seed })));
    return tokens.map((t) => renderTokens(t, prompt, this.model.config.image_size));
  }

  async generate(req: GenerateRequest): Promise<Candidate[]> {
    const prompt = synthPrompt(req.prompt, `prompt ${JSON.stringify(req.promptId)}:`);
    const samples = await this.sample(prompt, req.seeds.slice(0, req.n));
    return Promise.all(
      samples.map(async (s, index): Promise<Candidate> => ({
        index,
        seed: req.seeds[index],
        bytes: await pngOf(s),
        pixels: rgbImageOf(s),
        settings: { generator: 'synth', weights: this.model.digest, tokens: tokensToText(s.tokens) },
        source: `synth#${req.promptKey}/${req.seeds[index]}`,
      })),
    );
  }

  async close(): Promise<void> {
    await this.model.dispose();
  }
}

export { BUNDLED_SYNTH_GENERATOR };
