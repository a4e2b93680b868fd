import { UserError } from '@richhf/reward';
import { OrtGraph, type OrtOptions } from './ort-graph';
import { type Embeddings } from './text-encoder';

export type Shape4 = [number, number, number, number];

const FLOATS = ['float32', 'float16'] as const;

/**
 * The denoising UNet of an optimum export (`unet/model.onnx`: sample [B, C, h, w], timestep, and
 * encoder_hidden_states [B, S, D] → out_sample [B, C, h, w]) in onnxruntime. The timestep goes in as the graph
 * declares it: int64 / int32 (a fractional Euler timestep truncated, as diffusers' ONNX pipeline does with
 * `np.array([t], dtype=timestep_dtype)`) or float32 / float16; shape [1] (or a scalar when declared so).
 */
export class OnnxUNet {
  private constructor(
    readonly graph: OrtGraph,
    /** Latent channels the UNet takes (4 for SD 1.x / 2.x). */
    readonly inChannels: number,
    private readonly outputName: string,
  ) {}

  /** `config` is unet/config.json when the export ships one (in_channels, cross_attention_dim, sample_size). */
  static async load(file: string, opts: OrtOptions = {}, config: Record<string, unknown> = {}): Promise<OnnxUNet> {
    const graph = await OrtGraph.open(file, 'UNet', opts);
    try {
      graph.checkInputs(
        [
          { name: 'sample', types: FLOATS, rank: 4 },
          { name: 'timestep', types: ['int64', 'int32', 'float32', 'float16', 'float64'], rank: [0, 1] },
          { name: 'encoder_hidden_states', types: FLOATS, rank: 3 },
        ],
        [],
        'a Stable Diffusion 1.x / 2.x UNet2DConditionModel export (SDXL-style added conditions are not supported)',
      );
      const declared = graph.dim('sample', 1);
      const fromConfig = typeof config.in_channels === 'number' ? config.in_channels : undefined;
      if (declared !== undefined && fromConfig !== undefined && declared !== fromConfig) {
        throw new UserError(`${file}: sample has ${declared} channels but unet/config.json says in_channels ${fromConfig}`);
      }
      const inChannels = declared ?? fromConfig ?? 4;
      const out = graph.outputNames.includes('out_sample') ? 'out_sample' : graph.outputNames[0];
      const outChannels = graph.output(out)?.shape[1];
      if (typeof outChannels === 'number' && outChannels !== inChannels) {
        throw new UserError(`${file}: output ${out} has ${outChannels} channels for ${inChannels} input channels (an inpainting or variance-predicting UNet; not supported)`);
      }
      return new OnnxUNet(graph, inChannels, out);
    } catch (e) {
      await graph.release();
      throw e;
    }
  }

  get file(): string {
    return this.graph.file;
  }

  /** The text hidden size the cross-attention takes, when the graph declares it. */
  get crossAttentionDim(): number | undefined {
    return this.graph.dim('encoder_hidden_states', 2);
  }

  /** The model output for a batch of (already scaled) samples at timestep `t`. */
  async predict(sample: Float32Array, shape: Shape4, t: number, context: Embeddings): Promise<Float32Array> {
    if (shape[1] !== this.inChannels) throw new UserError(`${this.file}: latents have ${shape[1]} channels; this UNet takes ${this.inChannels}`);
    if (context.shape[0] !== shape[0]) throw new RangeError(`${context.shape[0]} text embeddings for a batch of ${shape[0]}`);
    const scalar = this.graph.input('timestep')!.shape.length === 0;
    const feeds = {
      sample: this.graph.tensor('sample', sample, shape),
      timestep: this.graph.tensor('timestep', [t], scalar ? [] : [1]),
      encoder_hidden_states: this.graph.tensor('encoder_hidden_states', context.data, context.shape),
    };
    let out;
    try {
      out = (await this.graph.run(feeds, [this.outputName]))[this.outputName];
    } catch (e) {
      throw new UserError(`${this.file}: the UNet failed on a sample of shape [${shape}] (${String((e as Error).message ?? e).split('\n')[0]})`);
    }
    return OrtGraph.float32(out);
  }

  async release(): Promise<void> {
    await this.graph.release();
  }
}
