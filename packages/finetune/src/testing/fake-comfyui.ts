import { seedPng } from './fake-a1111';
import { json, startServer } from './http-server';

export type ComfyMode = 'ok' | 'node-error' | 'exec-error' | 'garbage' | 'never' | 'no-output';

/** ComfyUI's default text-to-image workflow in API format (what "Save (API format)" writes). */
export const DEFAULT_WORKFLOW = {
  '3': { class_type: 'KSampler', inputs: { seed: 156680208700286, steps: 20, cfg: 8, sampler_name: 'euler', scheduler: 'normal', denoise: 1, model: ['4', 0], positive: ['6', 0], negative: ['7', 0], latent_image: ['5', 0] } },
  '4': { class_type: 'CheckpointLoaderSimple', inputs: { ckpt_name: 'v1-5-pruned-emaonly.safetensors' } },
  '5': { class_type: 'EmptyLatentImage', inputs: { width: 512, height: 512, batch_size: 4 } },
  '6': { class_type: 'CLIPTextEncode', inputs: { text: 'beautiful scenery nature glass bottle landscape', clip: ['4', 1] } },
  '7': { class_type: 'CLIPTextEncode', inputs: { text: 'text, watermark', clip: ['4', 1] } },
  '8': { class_type: 'VAEDecode', inputs: { samples: ['3', 0], vae: ['4', 2] } },
  '9': { class_type: 'SaveImage', inputs: { filename_prefix: 'ComfyUI', images: ['8', 0] } },
};

type Node = { class_type: string; inputs: Record<string, unknown> };

/**
 * A ComfyUI server on 127.0.0.1 with the documented shapes: `POST /prompt` {prompt, client_id} → {prompt_id,
 * number, node_errors} (400 {error, node_errors} when invalid); `GET /history/{id}` → {} while running, then
 * {id: {prompt, outputs: {node: {images: [{filename, subfolder, type}]}}, status: {status_str, completed,
 * messages}}}; `GET /view?filename&subfolder&type` → the image. "Executing" a workflow paints an image whose
 * red is the KSampler seed mod 256 and records the text its positive input links to.
 */
export async function startFakeComfyUI(mode: ComfyMode = 'ok', opts: { runMs?: number } = {}) {
  let number = 0;
  const jobs = new Map<string, { readyAt: number; seed: number; text: string; batch: number }>();
  const files = new Map<string, Buffer>();
  const server = await startServer(async (req, body, res) => {
    const u = new URL(req.url ?? '/', 'http://x');
    if (req.method === 'POST' && u.pathname === '/prompt') {
      const p = JSON.parse(body || '{}');
      if (!p.prompt || typeof p.prompt !== 'object') return json(res, 400, { error: { type: 'no_prompt', message: 'No prompt provided', details: 'No prompt provided', extra_info: {} }, node_errors: {} });
      if (mode === 'node-error') {
        return json(res, 400, { error: { type: 'prompt_outputs_failed_validation', message: 'Prompt outputs failed validation', details: '', extra_info: {} }, node_errors: { '4': { errors: [{ type: 'value_not_in_list', message: 'Value not in list' }], class_type: 'CheckpointLoaderSimple' } } });
      }
      const nodes = p.prompt as Record<string, Node>;
      const sampler = Object.values(nodes).find((n) => n.class_type === 'KSampler')!;
      const positive = nodes[String((sampler.inputs.positive as [string, number])[0])];
      const latent = nodes[String((sampler.inputs.latent_image as [string, number])[0])];
      const id = `${(++number).toString(16).padStart(8, '0')}-0000-4000-8000-000000000000`;
      jobs.set(id, { readyAt: Date.now() + (opts.runMs ?? 30), seed: Number(sampler.inputs.seed), text: String(positive.inputs.text), batch: Number(latent.inputs.batch_size) });
      return json(res, 200, { prompt_id: id, number, node_errors: {} });
    }
    const hist = /^\/history\/([^/]+)$/.exec(u.pathname);
    if (req.method === 'GET' && hist) {
      if (mode === 'garbage') {
        res.writeHead(200, { 'content-type': 'text/html' });
        return res.end('<!doctype html><title>ComfyUI</title>');
      }
      const id = decodeURIComponent(hist[1]);
      const job = jobs.get(id);
      if (!job || mode === 'never' || Date.now() < job.readyAt) return json(res, 200, {});
      if (mode === 'exec-error') {
        return json(res, 200, { [id]: { prompt: [], outputs: {}, status: { status_str: 'error', completed: false, messages: [['execution_start', {}], ['execution_error', { node_id: '3', exception_message: 'Allocation on device 0 would exceed allowed memory.\nTraceback…', exception_type: 'torch.OutOfMemoryError' }]] } } });
      }
      const filename = `ComfyUI_${id.slice(0, 8)}_.png`;
      files.set(filename, await seedPng(job.seed));
      const outputs = mode === 'no-output' ? {} : { '9': { images: [{ filename, subfolder: '', type: 'output' }] } };
      return json(res, 200, { [id]: { prompt: [number, id, {}, {}, ['9']], outputs, status: { status_str: 'success', completed: true, messages: [] } } });
    }
    if (req.method === 'GET' && u.pathname === '/view') {
      const f = files.get(u.searchParams.get('filename') ?? '');
      if (!f || u.searchParams.get('type') !== 'output') return json(res, 404, { error: 'not found' });
      res.writeHead(200, { 'content-type': 'image/png' });
      return res.end(f);
    }
    json(res, 404, { error: 'not found' });
  });
  return { ...server, jobs };
}
