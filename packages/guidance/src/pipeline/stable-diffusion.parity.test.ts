import * as fs from 'fs';
import * as path from 'path';
import { loadDecoder, type VaeDecoder } from '../decoders';
import { DDIMScheduler } from '../schedulers';
import { absRel, caseDirsWith, diffusersParityDir, readTensors, tensor } from '../testing/parity';
import { StableDiffusion } from './stable-diffusion';
import { type Embeddings } from './text-encoder';

/*
 * diffusers parity of the Stable Diffusion pipeline: every folder under <parity>/diffusers (test/fixtures/parity,
 * or RAHF_PARITY_DIR) holding unet/model.onnx, text_encoder/model.onnx, io.safetensors and README.json is a case.
 * README.json's "loop" names the DDIM step count and the CFG scale, "vae" the decoder folder; the scheduler is
 * the SD config of ../schedulers.json with clip_sample and set_alpha_to_one off. Criterion: max |a − e| / max(1, |e|).
 * Text encoder and UNet within 1e-4, the loop's final latents within 1e-4, its decoded image within 1e-3.
 */

const cases = caseDirsWith('unet/model.onnx', 'text_encoder/model.onnx', 'io.safetensors', 'README.json');

test(`parity fixtures under ${diffusersParityDir()} contain Stable Diffusion cases`, () => {
  expect(cases.length).toBeGreaterThan(0);
});

function within(key: string, err: number, tol: number): void {
  if (process.env.PARITY_VERBOSE) process.stderr.write(`${key}: ${err.toExponential(2)}\n`);
  if (!(err <= tol)) throw new Error(`${key}: error ${err.toExponential(3)} > ${tol}`);
}

describe.each(cases.map((dir) => [path.basename(dir), dir]))('diffusers/%s', (_name, dir) => {
  const file = path.join(dir, 'io.safetensors');
  const io = readTensors(file);
  const get = (k: string) => tensor(io, k, file);
  const readme = JSON.parse(fs.readFileSync(path.join(dir, 'README.json'), 'utf8')) as { loop: string; vae?: string };
  const steps = Number(/DDIM (\d+) steps/.exec(readme.loop)?.[1]);
  const cfgScale = Number(/CFG ([\d.]+)/.exec(readme.loop)?.[1]);
  const sdConfig = JSON.parse(fs.readFileSync(path.join(dir, '..', 'schedulers.json'), 'utf8')).sd_config as Record<string, unknown>;
  let pipe: StableDiffusion;
  let decoder: VaeDecoder | undefined;

  beforeAll(async () => {
    decoder = readme.vae ? await loadDecoder(path.resolve(dir, readme.vae)) : undefined;
    const scheduler = new DDIMScheduler({ ...sdConfig, clip_sample: false, set_alpha_to_one: false });
    pipe = await StableDiffusion.fromPretrained(dir, { scheduler, decoder });
  });
  afterAll(async () => {
    await pipe?.dispose();
    await decoder?.dispose();
  });

  /** The text encoder's embeddings of the fixture's id rows. */
  async function embeddings(): Promise<Embeddings> {
    const ids = get('text_input_ids');
    const s = ids.shape[1];
    const rows = Array.from({ length: ids.shape[0] }, (_, r) => Array.from(ids.data.subarray(r * s, (r + 1) * s)));
    return pipe.textEncoder.encode(rows);
  }

  test('text encoder: last_hidden_state within 1e-4', async () => {
    const emb = await embeddings();
    expect(emb.shape).toEqual(get('text_last_hidden_state').shape);
    within('text_last_hidden_state', absRel(emb.data, get('text_last_hidden_state').data), 1e-4);
  });

  test('UNet: out_sample within 1e-4', async () => {
    const x = get('unet_sample');
    const ctx = get('unet_encoder_hidden_states');
    const out = await pipe.unet.predict(x.data, x.shape as [number, number, number, number], get('unet_timestep').data[0], { data: ctx.data, shape: ctx.shape as [number, number, number] });
    within('unet_out_sample', absRel(out, get('unet_out_sample').data), 1e-4);
  });

  test('the DDIM + CFG loop from loop_init_latents: final latents within 1e-4, image within 1e-3', async () => {
    expect([steps, cfgScale].every(Number.isFinite)).toBe(true);
    const emb = await embeddings();
    const [, s, h] = emb.shape;
    const row = (r: number): Embeddings => ({ data: emb.data.slice(r * s * h, (r + 1) * s * h), shape: [1, s, h] });
    const init = get('loop_init_latents');
    const f = pipe.vaeScaleFactor;
    const result = await pipe.generate({
      promptEmbeds: row(0),
      negativePromptEmbeds: row(1),
      latents: init.data,
      height: init.shape[2] * f,
      width: init.shape[3] * f,
      steps,
      guidanceScale: cfgScale,
      output: 'latents',
    });
    expect(result.latentShape).toEqual(init.shape);
    within('loop_final_latents', absRel(result.latents, get('loop_final_latents').data), 1e-4);
    if (decoder) {
      const image = await decoder.decodeDiffusers(result.latents, result.latentShape);
      within('loop_image', absRel(image, get('loop_image').data), 1e-3);
    }
  });
});
