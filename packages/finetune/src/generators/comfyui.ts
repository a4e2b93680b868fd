import { createHash, randomUUID } from 'crypto';
import * as fs from 'fs';
import { UserError } from '@richhf/reward';
import { Candidate, GenerateRequest, Generator, GeneratorError, type GeneratorOptions } from '../generator';
import { baseUrl, HttpOptions, requestBytes, requestJson } from './http';

type Workflow = Record<string, { class_type?: string; inputs?: Record<string, unknown>; _meta?: unknown }>;

const SEED_INPUTS = ['seed', 'noise_seed'];

/** Where a workflow takes its prompt text, seed and batch size: found, or named with --param. */
export interface WorkflowSlots {
  promptNode: string;
  seedNode: string;
  seedInput: string;
  batchNode?: string;
}

/**
 * Finds the nodes to patch in an API-format workflow (ComfyUI's "Save (API format)"): the sampler holding a
 * numeric `seed`/`noise_seed` (KSampler, KSamplerAdvanced, RandomNoise…), the text encoder its `positive`
 * input links to (or the only node with a `text` input), and a latent node's `batch_size`. `prompt_node` /
 * `seed_node` params override the search for workflows it cannot read.
 */
export function findSlots(wf: Workflow, file: string, params: Record<string, unknown> = {}): WorkflowSlots {
  const ids = Object.keys(wf);
  const node = (id: string) => wf[id];
  let seedNode = params.seed_node !== undefined ? String(params.seed_node) : undefined;
  if (seedNode !== undefined && !wf[seedNode]) throw new UserError(`--workflow ${file}: seed_node ${seedNode} is not a node of the workflow`);
  const seeded = ids.filter((id) => SEED_INPUTS.some((k) => typeof node(id).inputs?.[k] === 'number'));
  if (seedNode === undefined) {
    if (seeded.length !== 1) throw new UserError(`--workflow ${file}: ${seeded.length === 0 ? 'no node has a numeric seed or noise_seed input' : `several nodes take a seed (${seeded.join(', ')})`}; pass --param seed_node=ID`);
    seedNode = seeded[0];
  }
  const seedInput = SEED_INPUTS.find((k) => typeof node(seedNode!).inputs?.[k] === 'number');
  if (!seedInput) throw new UserError(`--workflow ${file}: node ${seedNode} has no numeric seed or noise_seed input`);

  let promptNode = params.prompt_node !== undefined ? String(params.prompt_node) : undefined;
  if (promptNode === undefined) {
    const positive = node(seedNode).inputs?.positive;
    if (Array.isArray(positive) && typeof wf[String(positive[0])]?.inputs?.text === 'string') promptNode = String(positive[0]);
    else {
      const texts = ids.filter((id) => typeof node(id).inputs?.text === 'string');
      if (texts.length !== 1) throw new UserError(`--workflow ${file}: cannot tell which node holds the prompt (${texts.length} text nodes, none linked as the sampler's positive input); pass --param prompt_node=ID`);
      promptNode = texts[0];
    }
  }
  if (typeof wf[promptNode]?.inputs?.text !== 'string') throw new UserError(`--workflow ${file}: node ${promptNode} has no text input`);
  const batchNode = ids.find((id) => typeof node(id).inputs?.batch_size === 'number');
  return { promptNode, seedNode, seedInput, batchNode };
}

interface HistoryEntry {
  outputs?: Record<string, { images?: Array<{ filename: string; subfolder?: string; type?: string }> }>;
  status?: { status_str?: string; completed?: boolean; messages?: Array<[string, Record<string, unknown>]> };
}

/**
 * ComfyUI's HTTP API: each candidate is the workflow with its prompt text and seed patched (batch size 1, so
 * every image has its own reproducible seed), queued with `POST /prompt`; `GET /history/{prompt_id}` is polled
 * until it lists outputs; the first output image is fetched with `GET /view`.
 */
export class ComfyUIGenerator implements Generator {
  readonly kind = 'comfyui';
  readonly describe: Record<string, unknown>;
  private readonly url: string;
  private readonly workflow: Workflow;
  private readonly slots: WorkflowSlots;
  private readonly http: Omit<HttpOptions, 'signal'>;
  private readonly pollMs: number;
  private readonly timeoutMs: number;
  private readonly clientId = randomUUID();

  constructor(url: string, opts: GeneratorOptions & { retryDelayMs?: number; pollMs?: number } = {}) {
    this.url = baseUrl('comfyui', url);
    if (!opts.workflow) throw new UserError(`--generator comfyui:${url} needs --workflow FILE (a workflow saved with "Save (API format)")`);
    let text: string;
    try {
      text = fs.readFileSync(opts.workflow, 'utf8');
    } catch (e) {
      throw new UserError(`--workflow ${opts.workflow}: cannot read (${(e as NodeJS.ErrnoException).code ?? (e as Error).message})`);
    }
    let wf: unknown;
    try {
      wf = JSON.parse(text);
    } catch (e) {
      throw new UserError(`--workflow ${opts.workflow}: not JSON (${(e as Error).message.split('\n')[0]})`);
    }
    if (!wf || typeof wf !== 'object' || Array.isArray(wf) || 'nodes' in (wf as object)) {
      throw new UserError(`--workflow ${opts.workflow}: not an API-format workflow (save it with "Save (API format)": an object of node id → {class_type, inputs})`);
    }
    this.workflow = wf as Workflow;
    const params = opts.params ?? {};
    this.slots = findSlots(this.workflow, opts.workflow, params);
    this.timeoutMs = (opts.timeoutSeconds ?? 600) * 1000;
    this.http = { label: `comfyui ${this.url}`, timeoutMs: Math.min(this.timeoutMs, 60_000), retries: opts.retries, retryDelayMs: opts.retryDelayMs };
    this.pollMs = opts.pollMs ?? 250;
    this.describe = { kind: this.kind, url: this.url, workflow: createHash('sha256').update(JSON.stringify(this.workflow)).digest('hex').slice(0, 16), slots: this.slots };
  }

  /** The workflow for one candidate. */
  patched(prompt: string, seed: number): Workflow {
    const wf = JSON.parse(JSON.stringify(this.workflow)) as Workflow;
    wf[this.slots.promptNode].inputs!.text = prompt;
    wf[this.slots.seedNode].inputs![this.slots.seedInput] = seed;
    if (this.slots.batchNode) wf[this.slots.batchNode].inputs!.batch_size = 1;
    return wf;
  }

  async generate(req: GenerateRequest): Promise<Candidate[]> {
    const http = { ...this.http, signal: req.signal };
    const queued: string[] = [];
    for (let k = 0; k < req.n; k++) {
      const res = (await requestJson(`${this.url}/prompt`, { prompt: this.patched(req.prompt, req.seeds[k]), client_id: this.clientId }, http)) as { prompt_id?: unknown; node_errors?: Record<string, unknown> };
      if (typeof res?.prompt_id !== 'string') throw new GeneratorError(`${this.http.label}/prompt: unexpected answer for prompt ${JSON.stringify(req.promptId)} (no prompt_id)`);
      queued.push(res.prompt_id);
    }
    const deadline = Date.now() + this.timeoutMs;
    return Promise.all(queued.map(async (id, k): Promise<Candidate> => {
      const entry = await this.waitFor(id, deadline, req, http);
      const images = Object.keys(entry.outputs ?? {})
        .sort((a, b) => Number(a) - Number(b) || a.localeCompare(b))
        .flatMap((node) => entry.outputs![node].images ?? []);
      if (images.length === 0) throw new GeneratorError(`${this.http.label}: workflow for prompt ${JSON.stringify(req.promptId)} finished without an output image (add a SaveImage node)`);
      const img = images[0];
      const q = new URLSearchParams({ filename: img.filename, subfolder: img.subfolder ?? '', type: img.type ?? 'output' });
      const bytes = await requestBytes(`${this.url}/view?${q}`, http);
      return { index: k, seed: req.seeds[k], bytes, settings: { generator: 'comfyui', workflow: this.describe.workflow, prompt_id: id }, source: `${this.http.label}/view?${q}` };
    }));
  }

  private async waitFor(id: string, deadline: number, req: GenerateRequest, http: HttpOptions): Promise<HistoryEntry> {
    for (;;) {
      const h = (await requestJson(`${this.url}/history/${encodeURIComponent(id)}`, undefined, http)) as Record<string, HistoryEntry>;
      if (!h || typeof h !== 'object') throw new GeneratorError(`${this.http.label}/history: unexpected answer (not an object)`);
      const entry = h[id];
      if (entry) {
        if (entry.status?.status_str === 'error') {
          const msg = entry.status.messages?.find((m) => m[0] === 'execution_error')?.[1]?.exception_message;
          throw new GeneratorError(`${this.http.label}: prompt ${JSON.stringify(req.promptId)} failed in the workflow${msg ? ` (${String(msg).split('\n')[0]})` : ''}`);
        }
        if (entry.outputs && (entry.status?.completed ?? true)) return entry;
      }
      if (Date.now() > deadline) throw new GeneratorError(`${this.http.label}: prompt ${JSON.stringify(req.promptId)} not finished within ${this.timeoutMs / 1000} s`, true);
      await new Promise((r) => setTimeout(r, this.pollMs));
    }
  }

  async close(): Promise<void> {}
}
