import sharp from 'sharp';
import { json, startServer } from './http-server';

export type A1111Mode = 'ok' | 'slow' | 'error' | 'garbage' | 'bad-image' | 'grid' | 'flaky' | 'short' | 'dies';

/** The PNG an A1111 fake returns for a seed: red = seed mod 256 (tests check which seed made which image). */
export function seedPng(seed: number, width = 32, height = 24): Promise<Buffer> {
  return sharp({ create: { width, height, channels: 3, background: { r: seed % 256, g: (seed >> 8) % 256, b: 90 } } }).png().toBuffer();
}

/**
 * An AUTOMATIC1111 API on 127.0.0.1 with the documented shapes: POST /sdapi/v1/txt2img and /img2img take
 * the request JSON and answer `{images: [base64 PNG], parameters, info: "<JSON string>"}` with `all_seeds` =
 * seed, seed+1, … over batch_size × n_iter images. `mode` makes it slow, fail (HTTP 500 `{detail}`), answer
 * HTML, send undecodable images, prepend a grid, fail the first request only, return too few images, or
 * fail every request after the first ('dies').
 */
export async function startFakeA1111(mode: A1111Mode = 'ok', opts: { delayMs?: number; latencyMs?: number } = {}) {
  let calls = 0;
  let current = mode;
  const server = await startServer(async (req, body, res) => {
    const route = req.url ?? '';
    const mode = current;
    if (req.method !== 'POST' || !/^\/sdapi\/v1\/(txt2img|img2img)$/.test(route)) return json(res, 404, { detail: 'Not Found' });
    calls++;
    if (opts.latencyMs) await new Promise((r) => setTimeout(r, opts.latencyMs).unref());
    if (mode === 'slow') await new Promise((r) => setTimeout(r, opts.delayMs ?? 2000).unref());
    if (mode === 'error' || (mode === 'flaky' && calls === 1) || (mode === 'dies' && calls > 1)) return json(res, 500, { error: 'OutOfMemoryError', detail: 'CUDA out of memory. Tried to allocate 2.00 GiB' });
    if (mode === 'garbage') {
      res.writeHead(200, { 'content-type': 'text/html' });
      return res.end('<html><body>Gradio UI</body></html>');
    }
    const p = JSON.parse(body);
    if (typeof p.prompt !== 'string') return json(res, 422, { detail: [{ loc: ['body', 'prompt'], msg: 'field required' }] });
    if (route.endsWith('img2img') && (!Array.isArray(p.init_images) || typeof p.mask !== 'string')) return json(res, 422, { detail: 'init_images and mask required' });
    const seed = p.seed ?? -1;
    const total = (p.batch_size ?? 1) * (p.n_iter ?? 1);
    const seeds = Array.from({ length: total }, (_, k) => seed + k);
    let images = await Promise.all(seeds.map(async (s) => (mode === 'bad-image' ? Buffer.from('definitely not a png') : await seedPng(s, p.width, p.height)).toString('base64')));
    let first = 0;
    if (mode === 'grid') {
      images = [(await seedPng(255)).toString('base64'), ...images];
      first = 1;
    }
    if (mode === 'short') images = images.slice(0, 1);
    const info = { prompt: p.prompt, all_prompts: seeds.map(() => p.prompt), seed, all_seeds: seeds, subseed: 7, width: p.width ?? 512, height: p.height ?? 512, sampler_name: p.sampler_name ?? 'Euler a', cfg_scale: p.cfg_scale ?? 7, steps: p.steps ?? 20, sd_model_name: 'fake-model', sd_model_hash: 'abc123', index_of_first_image: first, infotexts: [] };
    json(res, 200, { images, parameters: p, info: JSON.stringify(info) });
  });
  return { ...server, calls: () => calls, setMode: (m: A1111Mode) => (current = m) };
}
