import type { GraphBuilder } from '@richhf/reward/onnx';
import type { TensorMap } from '@richhf/reward/io';
import { Activation, ConvSpec, NetOps } from './net';

/*
 * The network ops as ONNX nodes (NCHW), restricted to ops the reward package's autodiff differentiates, and
 * written without fixed spatial sizes (Reshape with 0 / −1, Shape-derived targets) so one builder serves
 * the dynamic-shape optimum export and the fixed-shape gradient graphs (where the autodiff folds the shape
 * arithmetic into constants).
 *   GroupNorm: Reshape [B, G, −1] → LayerNormalization (scale 1, bias 0, broadcast) → Reshape → ·γ + β: one
 *     fused kernel forward, and the autodiff's LayerNormalization rule reuses its mean and inverse deviation
 *     (there is no gradient rule for GroupNormalization or InstanceNormalization).
 *   SiLU: x · Sigmoid(x). Nearest upsampling: Unsqueeze → Expand → Reshape (no rule for Resize; the gradient
 *     of Expand is a ReduceSum over the copies, which is exactly nearest's adjoint).
 *   Upsample + 3×3 conv (every decoder stage): the sub-pixel form, see subPixelConv.
 */

export class OnnxOps implements NetOps<string> {
  private readonly ch = new Map<string, number>();

  constructor(
    private readonly g: GraphBuilder,
    private readonly tensors: TensorMap,
    private readonly subPixel = true,
  ) {}

  /** Declare a value's channel count (graph inputs). */
  withChannels(x: string, c: number): string {
    this.ch.set(x, c);
    return x;
  }

  private put(x: string, c: number): string {
    this.ch.set(x, c);
    return x;
  }

  private weight(name: string, transform?: (d: Float32Array, shape: number[]) => { data: Float32Array; dims: number[] }, variant = transform ? 't' : ''): string {
    return this.g.memo(`w:${name}:${variant}`, () => {
      const t = this.tensors.get(name);
      if (!t) throw new Error(`OnnxOps: no tensor "${name}"`);
      const { data, dims } = transform ? transform(t.data as Float32Array, t.shape) : { data: t.data as Float32Array, dims: t.shape };
      return this.g.init(name, data, dims);
    });
  }

  /** A [C] vector as [C, 1, 1], to broadcast over NCHW. */
  private channelVector(name: string): string {
    return this.weight(name, (d, s) => ({ data: d, dims: [s[0], 1, 1] }));
  }

  channels(x: string): number {
    const c = this.ch.get(x);
    if (c === undefined) throw new Error(`OnnxOps: unknown channel count of "${x}"`);
    return c;
  }

  conv(x: string, name: string, s: ConvSpec): string {
    const h = s.k >> 1;
    const pads = s.pad ?? [h, h, h, h];
    const inputs = [x, this.weight(`${name}.weight`)];
    if (s.bias !== false) inputs.push(this.weight(`${name}.bias`));
    const st = s.stride ?? 1;
    return this.put(this.g.op('Conv', inputs, { kernel_shape: [s.k, s.k], pads, strides: [st, st] }, 'conv'), s.out);
  }

  act(x: string, fn: Activation): string {
    const g = this.g;
    let y: string;
    if (fn === 'relu') y = g.relu(x);
    else if (fn === 'silu') y = g.mul(x, g.sigmoid(x));
    else y = g.mul(g.mul(x, g.f32(0.5)), g.add(g.f32(1), g.op('Erf', [g.mul(x, g.f32(Math.SQRT1_2))])));
    return this.put(y, this.channels(x));
  }

  groupNorm(x: string, name: string, groups: number, eps: number): string {
    const g = this.g;
    const grouped = g.op('Reshape', [x, g.i64([0, groups, -1])]);
    const n = g.op('LayerNormalization', [grouped, g.f32([1], [1]), g.f32([0], [1])], { axis: -1, epsilon: { float: eps } }, 'group_norm');
    const y = g.op('Reshape', [n, g.shape(x, 0, 4)]);
    return this.put(g.add(g.mul(y, this.channelVector(`${name}.weight`)), this.channelVector(`${name}.bias`)), this.channels(x));
  }

  upsample(x: string, f: number): string {
    const g = this.g;
    const u = g.op('Expand', [g.unsqueeze(x, [3, 5]), g.i64([1, 1, 1, f, 1, f])]);
    const target = g.op('Mul', [g.shape(x, 0, 4), g.i64([1, 1, f, f])]);
    return this.put(g.op('Reshape', [u, target], undefined, 'upsample'), this.channels(x));
  }

  upsampleConv(x: string, f: number, name: string, s: ConvSpec): string {
    const plain = f !== 2 || s.k !== 3 || (s.stride ?? 1) !== 1 || (s.pad && s.pad.some((p) => p !== 1));
    if (plain || !this.subPixel) return this.conv(this.upsample(x, f), name, s);
    return this.subPixelConv(x, name, s);
  }

  /**
   * A 3×3 conv of the ×2 nearest-upsampled image without making it (the sub-pixel form): output pixel
   * (2i + a, 2j + b) sees input rows {i − 1, i} (a = 0) or {i, i + 1} (a = 1), so each of the four phases is
   * a 2×2 conv of the input whose taps sum the 3×3 taps that land on the same input pixel — 16 instead of 36
   * multiply–adds per output channel and input pixel, forward and backward — then the phases interleave.
   */
  private subPixelConv(x: string, name: string, s: ConvSpec): string {
    const g = this.g;
    const w = this.tensors.get(`${name}.weight`)!;
    const [o, i] = w.shape;
    // Taps of the 3×3 filter that phase p's 2×2 tap r collects, per axis.
    const TAPS = [
      [[0], [1, 2]],
      [[0, 1], [2]],
    ];
    const phase = (a: number, b: number) =>
      this.weight(`${name}.weight`, (d) => {
        const k = new Float32Array(o * i * 4);
        for (let oi = 0; oi < o * i; oi++)
          for (let ry = 0; ry < 2; ry++)
            for (let rx = 0; rx < 2; rx++) {
              let v = 0;
              for (const dy of TAPS[a][ry]) for (const dx of TAPS[b][rx]) v += d[oi * 9 + dy * 3 + dx];
              k[oi * 4 + ry * 2 + rx] = v;
            }
        return { data: k, dims: [o, i, 2, 2] };
      }, `phase${a}${b}`);
    const bias = s.bias === false ? [] : [this.weight(`${name}.bias`)];
    const y = [0, 1].map((a) => [0, 1].map((b) => g.op('Conv', [x, phase(a, b), ...bias], { kernel_shape: [2, 2], pads: [1 - a, 1 - b, a, b] }, 'conv')));
    // Columns: [B, O, H, W, 2] → [B, O, H, 2W]; rows: [B, O, H, 2, 2W] → [B, O, 2H, 2W].
    const rows = y.map((r) => g.unsqueeze(g.reshape(g.concat(r.map((v) => g.unsqueeze(v, [4])), 4), [0, 0, 0, -1]), [3]));
    const target = g.op('Mul', [g.shape(y[0][0], 0, 4), g.i64([1, 1, 2, 2])]);
    return this.put(g.op('Reshape', [g.concat(rows, 3), target], undefined, 'upsample_conv'), s.out);
  }

  add(a: string, b: string): string {
    return this.put(this.g.add(a, b), this.channels(a));
  }

  affine(x: string, a: number, b: number): string {
    const g = this.g;
    let y = a === 1 ? x : g.mul(x, g.f32(a));
    if (b !== 0) y = g.add(y, g.f32(b));
    return this.put(y, this.channels(x));
  }

  channelAffine(x: string, a: number[], b: number[]): string {
    if (a.every((v) => v === 1) && b.every((v) => v === 0)) return x;
    const g = this.g;
    const c = [a.length, 1, 1];
    return this.put(g.add(g.mul(x, g.f32(a, c)), g.f32(b, c)), this.channels(x));
  }

  tanh(x: string): string {
    return this.put(this.g.op('Tanh', [x]), this.channels(x));
  }

  sliceChannels(x: string, start: number, end: number): string {
    return this.put(this.g.slice(x, 1, start, end), end - start);
  }

  spatialAttention(x: string, name: string, heads: number): string {
    const g = this.g;
    const c = this.channels(x);
    const d = c / heads;
    const tokens = g.transpose(g.reshape(x, [0, c, -1]), [0, 2, 1]); // [B, N, C]
    // Linear weights [out, in] stored transposed, so each projection is one MatMul (Gemm in the gradient).
    const proj = (p: string, v: string) => g.add(g.matMul(v, this.weight(`${name}.${p}.weight`, (w, s) => ({ data: transpose2d(w, s[0], s[1]), dims: [s[1], s[0]] }))), this.weight(`${name}.${p}.bias`));
    const split = (v: string) => (heads === 1 ? v : g.transpose(g.reshape(v, [0, -1, heads, d]), [0, 2, 1, 3]));
    const q = split(g.mul(proj('to_q', tokens), g.f32(1 / Math.sqrt(d))));
    const k = split(proj('to_k', tokens));
    const v = split(proj('to_v', tokens));
    const att = g.op('Softmax', [g.matMul(q, heads === 1 ? g.transpose(k, [0, 2, 1]) : g.transpose(k, [0, 1, 3, 2]))], { axis: -1 });
    let o = g.matMul(att, v);
    if (heads > 1) o = g.reshape(g.transpose(o, [0, 2, 1, 3]), [0, -1, c]);
    const out = proj('to_out.0', o);
    return this.put(g.op('Reshape', [g.transpose(out, [0, 2, 1]), g.shape(x, 0, 4)]), c);
  }
}

function transpose2d(w: Float32Array, rows: number, cols: number): Float32Array {
  const out = new Float32Array(w.length);
  for (let r = 0; r < rows; r++) for (let c = 0; c < cols; c++) out[c * rows + r] = w[r * cols + c];
  return out;
}
