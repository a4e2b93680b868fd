import { UserError } from '@richhf/reward';
import { OrtGraph, type OrtOptions } from './ort-graph';

/** Text embeddings `[batch, sequence, hidden]`, what the UNet's cross-attention reads. */
export interface Embeddings {
  data: Float32Array;
  shape: [number, number, number];
}

/**
 * The CLIP text encoder of an optimum export (`text_encoder/model.onnx`: input_ids int32 or int64
 * [batch, sequence] → last_hidden_state, pooler_output) in onnxruntime. Stable Diffusion conditions on
 * `last_hidden_state` (diffusers' `prompt_embeds = text_encoder(ids)[0]`).
 */
export class OnnxTextEncoder {
  private constructor(
    readonly graph: OrtGraph,
    private readonly outputName: string,
  ) {}

  static async load(file: string, opts: OrtOptions = {}): Promise<OnnxTextEncoder> {
    const graph = await OrtGraph.open(file, 'text encoder', opts);
    try {
      graph.checkInputs(
        [{ name: 'input_ids', types: ['int64', 'int32'], rank: 2 }],
        [{ name: 'attention_mask', types: ['int64', 'int32'], rank: 2 }],
        'a CLIP text encoder exported by optimum or torch.onnx',
      );
      const out = graph.outputNames.includes('last_hidden_state') ? 'last_hidden_state' : graph.outputNames[0];
      const meta = graph.output(out);
      if (!meta || (meta.shape.length > 0 && meta.shape.length !== 3)) {
        throw new UserError(`${file}: output ${out} is not a [batch, sequence, hidden] tensor`);
      }
      return new OnnxTextEncoder(graph, out);
    } catch (e) {
      await graph.release();
      throw e;
    }
  }

  get file(): string {
    return this.graph.file;
  }

  /** Sequence length the graph is fixed to, if it declares one (CLIP exports usually leave it symbolic). */
  get sequenceLength(): number | undefined {
    return this.graph.dim('input_ids', 1);
  }

  /** Hidden size when the graph declares it. */
  get hiddenSize(): number | undefined {
    const d = this.graph.output(this.outputName)?.shape[2];
    return typeof d === 'number' ? d : undefined;
  }

  /** Embeddings of rows of token ids (all rows the same length: pad them first). */
  async encode(ids: readonly (readonly number[])[]): Promise<Embeddings> {
    const b = ids.length;
    const s = ids[0]?.length ?? 0;
    if (b === 0 || s === 0 || ids.some((r) => r.length !== s)) throw new RangeError('token id rows must be non-empty and of one length');
    const flat = ids.flat();
    const feeds: Record<string, ReturnType<OrtGraph['tensor']>> = { input_ids: this.graph.tensor('input_ids', flat, [b, s]) };
    // A graph that takes a mask sees every position (diffusers passes none to SD's CLIP: use_attention_mask false).
    if (this.graph.input('attention_mask')) feeds.attention_mask = this.graph.tensor('attention_mask', new Array<number>(b * s).fill(1), [b, s]);
    let out;
    try {
      out = (await this.graph.run(feeds, [this.outputName]))[this.outputName];
    } catch (e) {
      throw new UserError(`${this.file}: the text encoder failed on ids of shape [${b}, ${s}] (${String((e as Error).message ?? e).split('\n')[0]})`);
    }
    const dims = out.dims as number[];
    return { data: Float32Array.from(OrtGraph.float32(out)), shape: [dims[0], dims[1], dims[2]] };
  }

  async release(): Promise<void> {
    await this.graph.release();
  }
}
