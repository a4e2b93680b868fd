import * as fs from 'fs';
import * as ort from 'onnxruntime-node';
import { UserError } from '@richhf/reward';
import { float16ToFloat32, float32ToFloat16 } from './float16';

/**
 * One ONNX graph of a pipeline in an onnxruntime-node session: opened with a one-line error naming the file,
 * its declared inputs checked against what the pipeline will feed, and host arrays converted at the boundary
 * to whatever element type the graph declares (float32 / float16 / int64 / int32), so fp32 and fp16 exports
 * run through the same code.
 */

export interface OrtOptions {
  /** onnxruntime intra-op threads (default: onnxruntime's, one per physical core). */
  threads?: number;
  /** Execution providers in order of preference (default ['cpu']). */
  executionProviders?: ort.InferenceSession.SessionOptions['executionProviders'];
}

export interface InputSpec {
  name: string;
  /** Element types the pipeline can convert to for this input. */
  types: readonly ort.Tensor.Type[];
  /** Required rank; an array allows several (timestep: scalar or [1]). */
  rank?: number | readonly number[];
}

type Meta = ort.InferenceSession.TensorValueMetadata;

export class OrtGraph {
  private constructor(
    readonly file: string,
    private readonly session: ort.InferenceSession,
  ) {}

  /** Open `file` (`what` names the part in errors, e.g. "UNet"). */
  static async open(file: string, what: string, opts: OrtOptions = {}): Promise<OrtGraph> {
    if (!fs.existsSync(file)) throw new UserError(`${file}: no such file (the ${what} graph)`);
    let session: ort.InferenceSession;
    try {
      const options: ort.InferenceSession.SessionOptions = {
        executionProviders: opts.executionProviders ?? ['cpu'],
        interOpNumThreads: 1,
        graphOptimizationLevel: 'all',
        logSeverityLevel: 3,
      };
      if (opts.threads !== undefined) options.intraOpNumThreads = opts.threads;
      session = await ort.InferenceSession.create(file, options);
    } catch (e) {
      throw new UserError(`${file}: cannot load the ${what} graph (${String((e as Error).message ?? e).split('\n')[0]})`);
    }
    return new OrtGraph(file, session);
  }

  /** Declared tensor inputs by name. */
  input(name: string): Meta | undefined {
    const m = this.session.inputMetadata.find((x) => x.name === name);
    return m && m.isTensor ? m : undefined;
  }

  get inputNames(): readonly string[] {
    return this.session.inputNames;
  }

  get outputNames(): readonly string[] {
    return this.session.outputNames;
  }

  output(name: string): Meta | undefined {
    const m = this.session.outputMetadata.find((x) => x.name === name);
    return m && m.isTensor ? m : undefined;
  }

  /**
   * One-line UserError naming the file unless the graph's inputs are exactly `required` plus any of `optional`,
   * each of an element type and rank the pipeline can feed. `hint` ends the message (what such a graph is).
   */
  checkInputs(required: readonly InputSpec[], optional: readonly InputSpec[] = [], hint = ''): void {
    const specs = [...required, ...optional];
    const names = this.inputNames;
    const want = required.map((s) => s.name);
    const missing = want.filter((n) => !names.includes(n));
    const extra = names.filter((n) => !specs.some((s) => s.name === n));
    if (missing.length || extra.length) {
      const got = names.map((n) => `${n}: ${this.describe(n)}`).join(', ');
      const maybe = optional.length ? ` (optionally ${optional.map((s) => s.name).join(', ')})` : '';
      throw new UserError(`${this.file}: graph inputs are (${got}); expected ${want.join(', ')}${maybe}${hint ? ` — ${hint}` : ''}`);
    }
    for (const s of specs) {
      const m = this.input(s.name);
      if (!m) {
        if (names.includes(s.name)) throw new UserError(`${this.file}: input ${s.name} is not a tensor`);
        continue;
      }
      const ranks = s.rank === undefined ? undefined : typeof s.rank === 'number' ? [s.rank] : s.rank;
      // An empty declared shape means a scalar or an undeclared shape: either is let through.
      if (!s.types.includes(m.type) || (ranks && m.shape.length > 0 && !ranks.includes(m.shape.length))) {
        throw new UserError(`${this.file}: input ${s.name} is ${this.describe(s.name)}; expected ${s.types.join(' or ')}${ranks ? ` of rank ${ranks.join(' or ')}` : ''}`);
      }
    }
  }

  private describe(name: string): string {
    const m = this.input(name);
    return m ? `${m.type} [${m.shape.join(', ')}]` : 'not a tensor';
  }

  /** A declared dimension when it is a number (undefined when symbolic). */
  dim(input: string, axis: number): number | undefined {
    const d = this.input(input)?.shape[axis];
    return typeof d === 'number' && d > 0 ? d : undefined;
  }

  /** A host array as a tensor of the input's declared element type. */
  tensor(input: string, values: ArrayLike<number>, dims: readonly number[]): ort.Tensor {
    const type = this.input(input)?.type ?? 'float32';
    switch (type) {
      case 'float32':
        return new ort.Tensor('float32', values instanceof Float32Array ? values : Float32Array.from(values), dims);
      case 'float16':
        return new ort.Tensor('float16', float32ToFloat16(values), dims);
      case 'float64':
        return new ort.Tensor('float64', Float64Array.from(values), dims);
      case 'int64':
        return new ort.Tensor('int64', BigInt64Array.from(Array.from(values, (v) => BigInt(Math.trunc(v)))), dims);
      case 'int32':
        return new ort.Tensor('int32', Int32Array.from(values, (v) => Math.trunc(v)), dims);
      default:
        throw new UserError(`${this.file}: input ${input} has element type ${type}, which this pipeline does not feed`);
    }
  }

  async run(feeds: Record<string, ort.Tensor>, outputs?: readonly string[]): Promise<Record<string, ort.Tensor>> {
    return outputs ? this.session.run(feeds, outputs as string[]) : this.session.run(feeds);
  }

  /** An output tensor as float32 host data (float16 converted). */
  static float32(t: ort.Tensor): Float32Array {
    if (t.type === 'float32') return t.data as Float32Array;
    if (t.type === 'float16') return float16ToFloat32(t.data as Uint16Array);
    if (t.type === 'float64') return Float32Array.from(t.data as Float64Array);
    throw new Error(`output of element type ${t.type} where floats were expected`);
  }

  async release(): Promise<void> {
    await this.session.release();
  }
}
