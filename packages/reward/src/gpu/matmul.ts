/**
 * A register-tiled float32 matMul for tfjs-backend-webgpu, registered over its BatchMatMul kernel by
 * src/backend-webgpu.ts. tfjs's MatMulPackedProgram computes 32×32 output tiles with 64 threads
 * (4×4 per thread) and drops to scalar loads whenever B is transposed; on large GPUs that leaves most
 * of the arithmetic idle. This program computes 128×128 tiles (256 threads, 8×8 per thread) or, when
 * that would give too few workgroups to fill the GPU, 64×64 tiles (4×4 per thread). Operand tiles are
 * staged through workgroup memory as vec4 along the output dimension, whatever the operands' layout,
 * so transposed operands run at the same speed (x·Wᵀ needs no explicit transpose of W), and the next
 * tile's global loads are issued before the current tile is multiplied.
 *
 * Shapes the program does not cover (non-float32, batch dimensions that only broadcast partially, very
 * small matrices, where tfjs's reduce / split-K / vector programs are the better choice) go to the
 * original kernel. The technique (shared-memory tiling with an outer-product register block) is the
 * textbook GEMM blocking; the WGSL is written here.
 */
import * as tf from '@tensorflow/tfjs';

import { KernelArgs, wrapWebGPUKernel } from './webgpu-kernel';
type TensorInfo = tf.TensorInfo;

/** The parts of tfjs-backend-webgpu's WebGPUBackend used here. */
interface WebGPUBackendLike {
  makeTensorInfo(shape: number[], dtype: tf.DataType): TensorInfo;
  runWebGPUProgram(program: unknown, inputs: TensorInfo[], dtype: tf.DataType, uniforms?: { type: string; data: number[] }[], output?: TensorInfo): TensorInfo;
  disposeData(dataId: unknown): void;
  device: { limits: { maxComputeWorkgroupStorageSize?: number; maxComputeWorkgroupsPerDimension?: number } };
}

/** Which BatchMatMul runs on webgpu: this file's tiled program (where it applies) or tfjs's own. */
export type MatMulMode = 'tiled' | 'tfjs';

let mode: MatMulMode = (process.env.RAHF_WEBGPU_MATMUL as MatMulMode) === 'tfjs' ? 'tfjs' : 'tiled';
let calls = { tiled: 0, fallback: 0 };

export function setMatMulMode(m: MatMulMode): void {
  if (m !== 'tiled' && m !== 'tfjs') throw new Error(`webgpu matMul mode "${m}" (expected tiled or tfjs)`);
  mode = m;
}
export function matMulMode(): MatMulMode {
  return mode;
}
/** How many BatchMatMul calls took each path since the last reset (for the GPU check's report). */
export function matMulCalls(reset = false): { tiled: number; fallback: number } {
  const c = { ...calls };
  if (reset) calls = { tiled: 0, fallback: 0 };
  return c;
}

/** Tile shape: BM×BN outputs per workgroup of 16×16 threads, TM×TN per thread, BK deep. */
interface Tile {
  bm: number;
  bn: number;
  bk: number;
  tm: number;
  tn: number;
}
const BIG: Tile = { bm: 128, bn: 128, bk: 8, tm: 8, tn: 8 };
const SMALL: Tile = { bm: 64, bn: 64, bk: 16, tm: 4, tn: 4 };
/** Below about two waves of workgroups on a large GPU the 64-tile wins (more, smaller workgroups). */
const MIN_BIG_WORKGROUPS = 256;

export interface TiledSpec {
  tile: Tile;
  transposeA: boolean;
  transposeB: boolean;
  /** vec4 loads of A / B along their contiguous dimension (it is a multiple of 4). */
  vecA: boolean;
  vecB: boolean;
  /** vec4 stores (N is a multiple of 4). */
  vecOut: boolean;
  /**
   * Implicit GEMM of a 3×3 stride-1 'same' NHWC convolution: A is the input [B, H, W, C] read as its
   * im2col matrix [B·H·W, 9·C] (zero outside the image), B the filter [3, 3, C, O] = [9·C, O].
   */
  conv3x3?: boolean;
}

/** The WGSL body (tfjs's makeShader adds bindings, uniforms and the entry point that calls main). */
export function tiledMatMulSource(s: TiledSpec): string {
  const { bm, bn, bk, tm, tn } = s.tile;
  const mq = bm / 4;
  const nq = bn / 4;
  const lines: string[] = [];
  const L = (x: string) => lines.push(x);
  // A tile As[k][m/4] (vec4 over m), B tile Bs[k][n/4] (vec4 over n): the inner loop reads one vec4
  // of A and one of B per 16 multiply-adds and needs no transposition, whatever the operand layouts.
  L(`var<workgroup> As: array<array<vec4<f32>, ${mq}>, ${bk}>;`);
  L(`var<workgroup> Bs: array<array<vec4<f32>, ${nq}>, ${bk}>;`);
  // Element loaders with bounds; the contiguous dimension comes in vec4s when it is a multiple of 4.
  // Each thread fetches 4 consecutive elements of each operand per tile (bm·bk = bn·bk = 1024 = 256·4).
  const convLoaderA = () =>
    [
      `fn loadA(base: i32, k0: i32, r0: i32) -> vec4<f32> {`,
      `  let v = i32(localIndex);`,
      `  let r = r0 + v / ${bk / 4}; let kk = k0 + (v % ${bk / 4}) * 4;`,
      `  if (r < uniforms.M && kk < uniforms.K) {`,
      `    let hw = uniforms.H * uniforms.W;`,
      `    let b = r / hw; let p = r - b * hw; let y = p / uniforms.W; let x = p - y * uniforms.W;`,
      `    let tap = kk / uniforms.C; let c = kk - tap * uniforms.C;`,
      `    let iy = y + tap / 3 - 1; let ix = x + tap % 3 - 1;`,
      `    if (iy >= 0 && iy < uniforms.H && ix >= 0 && ix < uniforms.W) {`,
      `      return A[(base + ((b * uniforms.H + iy) * uniforms.W + ix) * uniforms.C + c) / 4];`,
      `    }`,
      `  }`,
      `  return vec4<f32>(0.0);`,
      `}`,
      `fn storeA(val: vec4<f32>) {`,
      `  let v = i32(localIndex);`,
      `  let r = v / ${bk / 4}; let kk = (v % ${bk / 4}) * 4;`,
      ...[0, 1, 2, 3].map((i) => `  As[kk + ${i}][r / 4][r % 4] = val[${i}];`),
      `}`,
    ].join('\n');
  const loader = (name: 'A' | 'B', trans: boolean, vec: boolean) => {
    // Operand "X" is logically [rows = M or N] × [K]; stored row-major [rows, K] unless `kMajor`.
    const kMajor = name === 'A' ? trans : !trans;
    const rows = name === 'A' ? 'uniforms.M' : 'uniforms.N';
    const rq = name === 'A' ? mq : nq;
    const fn: string[] = [];
    fn.push(`fn load${name}(base: i32, k0: i32, r0: i32) -> vec4<f32> {`);
    fn.push(`  let v = i32(localIndex);`);
    if (kMajor) {
      // stored [K, rows]: thread v reads rows r..r+3 of k-row kk (contiguous)
      fn.push(`  let kk = k0 + v / ${rq}; let r = r0 + (v % ${rq}) * 4;`);
      fn.push(`  let idx = base + kk * ${rows} + r;`);
      if (vec) {
        fn.push(`  if (kk < uniforms.K && r < ${rows}) { return ${name}[idx / 4]; }`);
        fn.push(`  return vec4<f32>(0.0);`);
      } else {
        fn.push(`  var o = vec4<f32>(0.0);`);
        fn.push(`  if (kk < uniforms.K) {`);
        for (let i = 0; i < 4; i++) fn.push(`    if (r + ${i} < ${rows}) { o[${i}] = ${name}[idx + ${i}]; }`);
        fn.push(`  }`);
        fn.push(`  return o;`);
      }
    } else {
      // stored [rows, K]: thread v reads k..k+3 of row r (contiguous)
      fn.push(`  let r = r0 + v / ${bk / 4}; let kk = k0 + (v % ${bk / 4}) * 4;`);
      fn.push(`  let idx = base + r * uniforms.K + kk;`);
      if (vec) {
        fn.push(`  if (r < ${rows} && kk < uniforms.K) { return ${name}[idx / 4]; }`);
        fn.push(`  return vec4<f32>(0.0);`);
      } else {
        fn.push(`  var o = vec4<f32>(0.0);`);
        fn.push(`  if (r < ${rows}) {`);
        for (let i = 0; i < 4; i++) fn.push(`    if (kk + ${i} < uniforms.K) { o[${i}] = ${name}[idx + ${i}]; }`);
        fn.push(`  }`);
        fn.push(`  return o;`);
      }
    }
    fn.push(`}`);
    // Store the fetched 4 elements into the k-major tile.
    const tileName = name === 'A' ? 'As' : 'Bs';
    fn.push(`fn store${name}(val: vec4<f32>) {`);
    fn.push(`  let v = i32(localIndex);`);
    if (kMajor) {
      fn.push(`  ${tileName}[v / ${rq}][v % ${rq}] = val;`);
    } else {
      fn.push(`  let r = v / ${bk / 4}; let kk = (v % ${bk / 4}) * 4;`);
      for (let i = 0; i < 4; i++) fn.push(`  ${tileName}[kk + ${i}][r / 4][r % 4] = val[${i}];`);
    }
    fn.push(`}`);
    return fn.join('\n');
  };
  L(s.conv3x3 ? convLoaderA() : loader('A', s.transposeA, s.vecA));
  L(loader('B', s.transposeB, s.vecB));

  const am = tm / 4; // vec4s of A per thread and k
  const bnv = tn / 4; // vec4s of B per thread and k
  L(`fn main() {`);
  L(`  let tx = i32(localId.x); let ty = i32(localId.y);`);
  L(`  let batch = i32(workgroupId.z);`);
  L(`  let row0 = i32(workgroupId.y) * ${bm}; let col0 = i32(workgroupId.x) * ${bn};`);
  // Batch broadcasting: an operand with one matrix serves every batch.
  if (s.conv3x3) {
    L(`  let baseA = 0; let baseB = 0;`);
  } else {
    L(`  let baseA = select(batch, 0, uniforms.aShape[0] == 1) * uniforms.M * uniforms.K;`);
    L(`  let baseB = select(batch, 0, uniforms.bShape[0] == 1) * uniforms.N * uniforms.K;`);
  }
  for (let i = 0; i < tm; i++) for (let j = 0; j < bnv; j++) L(`  var acc${i}_${j} = vec4<f32>(0.0);`);
  L(`  let tiles = (uniforms.K + ${bk - 1}) / ${bk};`);
  L(`  var pa = loadA(baseA, 0, row0);`);
  L(`  var pb = loadB(baseB, 0, col0);`);
  L(`  for (var t = 0; t < tiles; t++) {`);
  L(`    storeA(pa); storeB(pb);`);
  L(`    workgroupBarrier();`);
  // Prefetch the next tile into registers while this one is multiplied.
  L(`    if (t + 1 < tiles) { pa = loadA(baseA, (t + 1) * ${bk}, row0); pb = loadB(baseB, (t + 1) * ${bk}, col0); }`);
  L(`    for (var k = 0; k < ${bk}; k++) {`);
  for (let i = 0; i < am; i++) L(`      let a${i} = As[k][ty * ${am} + ${i}];`);
  for (let j = 0; j < bnv; j++) L(`      let b${j} = Bs[k][tx * ${bnv} + ${j}];`);
  for (let i = 0; i < tm; i++) {
    const a = `a${Math.floor(i / 4)}[${i % 4}]`;
    for (let j = 0; j < bnv; j++) L(`      acc${i}_${j} = fma(vec4<f32>(${a}), b${j}, acc${i}_${j});`);
  }
  L(`    }`);
  L(`    workgroupBarrier();`);
  L(`  }`);
  // Rows ty·TM + i, columns tx·TN + 4j (+0..3).
  L(`  let outBase = batch * uniforms.M * uniforms.N;`);
  for (let i = 0; i < tm; i++) {
    L(`  { let r = row0 + ty * ${tm} + ${i};`);
    L(`    if (r < uniforms.M) {`);
    for (let j = 0; j < bnv; j++) {
      L(`      { let c = col0 + tx * ${tn} + ${4 * j};`);
      if (s.vecOut) {
        L(`        if (c < uniforms.N) { result[(outBase + r * uniforms.N + c) / 4] = acc${i}_${j}; } }`);
      } else {
        for (let e = 0; e < 4; e++) L(`        if (c + ${e} < uniforms.N) { result[outBase + r * uniforms.N + c + ${e}] = acc${i}_${j}[${e}]; }`);
        L(`      }`);
      }
    }
    L(`    }`);
    L(`  }`);
  }
  L(`}`);
  return lines.join('\n');
}

/** A WebGPUProgram (tfjs-backend-webgpu's interface) for one spec and output shape [batch, M, N]. */
class TiledMatMulProgram {
  variableNames = ['A', 'B'];
  uniforms = 'M : i32, N : i32, K : i32,';
  outputShape: number[];
  dispatchLayout = { x: [2], y: [1], z: [0] };
  dispatch: [number, number, number];
  workgroupSize: [number, number, number] = [16, 16, 1];
  variableComponents: number[];
  outputComponent: number;
  shaderKey: string;
  private spec: TiledSpec;

  constructor(spec: TiledSpec, batch: number, m: number, n: number) {
    this.spec = spec;
    if (spec.conv3x3) this.uniforms += ' H : i32, W : i32, C : i32,';
    this.outputShape = [batch, m, n];
    this.dispatch = [Math.ceil(n / spec.tile.bn), Math.ceil(m / spec.tile.bm), batch];
    this.variableComponents = [spec.vecA ? 4 : 1, spec.vecB ? 4 : 1];
    this.outputComponent = spec.vecOut ? 4 : 1;
    const t = spec.tile;
    this.shaderKey = `rahfTiledMatMul_${t.bm}x${t.bn}x${t.bk}_${t.tm}x${t.tn}_${spec.transposeA}_${spec.transposeB}_${spec.vecA}_${spec.vecB}_${spec.vecOut}_${spec.conv3x3 ? 'conv3x3' : 'mm'}`;
  }

  getUserCode(): string {
    return tiledMatMulSource(this.spec);
  }
}

/** The spec for a product, or undefined when tfjs's own kernel should run it. */
export function planTiled(
  aShape: number[],
  bShape: number[],
  transposeA: boolean,
  transposeB: boolean,
  maxWorkgroupStorage = 16384,
): { spec: TiledSpec; batch: number; m: number; n: number; k: number; batchA: number; batchB: number } | undefined {
  const ra = aShape.length;
  const rb = bShape.length;
  if (ra < 2 || rb < 2) return undefined;
  const m = transposeA ? aShape[ra - 1] : aShape[ra - 2];
  const k = transposeA ? aShape[ra - 2] : aShape[ra - 1];
  const kb = transposeB ? bShape[rb - 1] : bShape[rb - 2];
  const n = transposeB ? bShape[rb - 2] : bShape[rb - 1];
  if (k !== kb) return undefined;
  const batchA = aShape.slice(0, -2).reduce((x, y) => x * y, 1);
  const batchB = bShape.slice(0, -2).reduce((x, y) => x * y, 1);
  // Equal batches, or one operand shared by all (tfjs also broadcasts partially: left to it).
  if (batchA !== batchB && batchA !== 1 && batchB !== 1) return undefined;
  const batch = Math.max(batchA, batchB);
  // Skinny products (a few rows or columns, or a short K) are tfjs's reduce / vector programs' job.
  if (m < 16 || n < 16 || k < 16) return undefined;
  const bigGroups = batch * Math.ceil(m / BIG.bm) * Math.ceil(n / BIG.bn);
  let tile = bigGroups >= MIN_BIG_WORKGROUPS ? BIG : SMALL;
  const bytes = (t: Tile) => 4 * t.bk * (t.bm + t.bn);
  if (bytes(tile) > maxWorkgroupStorage) tile = SMALL;
  if (bytes(tile) > maxWorkgroupStorage) return undefined;
  // vec4 loads need the contiguous dimension (and so every row start) to be a multiple of 4.
  const vecA = (transposeA ? m : k) % 4 === 0;
  const vecB = (transposeB ? k : n) % 4 === 0;
  return { spec: { tile, transposeA, transposeB, vecA, vecB, vecOut: n % 4 === 0 }, batch, m, n, k, batchA, batchB };
}

let convMode: MatMulMode = (process.env.RAHF_WEBGPU_CONV as MatMulMode) === 'tfjs' ? 'tfjs' : 'tiled';
/** Which Conv2D runs for 3×3 stride-1 'same' NHWC convolutions (the RAHF heads'): the tiled implicit GEMM or tfjs's. */
export function setConvMode(m: MatMulMode): void {
  if (m !== 'tiled' && m !== 'tfjs') throw new Error(`webgpu conv mode "${m}" (expected tiled or tfjs)`);
  convMode = m;
}
export function convModeNow(): MatMulMode {
  return convMode;
}

/** Plan for tf.conv2d(x, f, 1, 'same') as an implicit GEMM, or undefined for tfjs's Conv2D. */
export function planConv3x3(
  xShape: number[],
  fShape: number[],
  attrs: { strides?: number | number[]; pad?: unknown; dataFormat?: string; dilations?: number | number[] },
  maxWorkgroupStorage = 16384,
): { spec: TiledSpec; m: number; n: number; k: number } | undefined {
  const ones = (v: number | number[] | undefined) => v === undefined || v === 1 || (Array.isArray(v) && v.every((d) => d === 1));
  if (xShape.length !== 4 || fShape.length !== 4 || fShape[0] !== 3 || fShape[1] !== 3) return undefined;
  if (attrs.pad !== 'same' || !ones(attrs.strides) || !ones(attrs.dilations)) return undefined;
  if (attrs.dataFormat !== undefined && attrs.dataFormat !== 'NHWC') return undefined;
  const [b, h, w, c] = xShape;
  if (fShape[2] !== c || c % 4 !== 0) return undefined;
  const plan = planTiled([b * h * w, 9 * c], [9 * c, fShape[3]], false, false, maxWorkgroupStorage);
  if (!plan) return undefined;
  return { spec: { ...plan.spec, conv3x3: true }, m: plan.m, n: plan.n, k: plan.k };
}

let registered = false;

/** Put the tiled program in front of tfjs-backend-webgpu's BatchMatMul (idempotent). */
export function registerTiledMatMul(): void {
  if (registered || !tf.getKernel('BatchMatMul', 'webgpu')) return;
  const reshape = tf.getKernel('Reshape', 'webgpu')!.kernelFunc;
  wrapWebGPUKernel('BatchMatMul', (args, original) => {
    const { a, b } = args.inputs as unknown as { a: TensorInfo; b: TensorInfo };
    const { transposeA, transposeB } = args.attrs as unknown as { transposeA: boolean; transposeB: boolean };
    const backend = args.backend as unknown as WebGPUBackendLike;
    const plan =
      mode === 'tiled' && a.dtype === 'float32' && b.dtype === 'float32'
        ? planTiled(a.shape, b.shape, transposeA, transposeB, backend.device.limits.maxComputeWorkgroupStorageSize ?? 16384)
        : undefined;
    const maxDim = backend.device.limits.maxComputeWorkgroupsPerDimension ?? 65535;
    if (!plan || plan.batch > maxDim) {
      calls.fallback++;
      return original(args);
    }
    calls.tiled++;
    const { spec, batch, m, n, k: kk, batchA, batchB } = plan;
    const r = (x: TensorInfo, shape: number[]) => reshape({ inputs: { x }, backend: args.backend, attrs: { shape } } as unknown as KernelArgs) as TensorInfo;
    const a3 = r(a, transposeA ? [batchA, kk, m] : [batchA, m, kk]);
    const b3 = r(b, transposeB ? [batchB, n, kk] : [batchB, kk, n]);
    const program = new TiledMatMulProgram(spec, batch, m, n);
    const out3 = backend.runWebGPUProgram(program, [a3, b3], 'float32', [
      { type: 'int32', data: [m] },
      { type: 'int32', data: [n] },
      { type: 'int32', data: [kk] },
    ]);
    const outer = tf.backend_util.assertAndGetBroadcastShape(a.shape.slice(0, -2), b.shape.slice(0, -2));
    const out = r(out3, [...outer, m, n]);
    for (const t of [a3, b3, out3]) backend.disposeData(t.dataId);
    return out;
  });
  wrapWebGPUKernel('Conv2D', (args, originalConv) => {
    const { x, filter } = args.inputs as unknown as { x: TensorInfo; filter: TensorInfo };
    const backend = args.backend as unknown as WebGPUBackendLike;
    const plan =
      convMode === 'tiled' && x.dtype === 'float32' && filter.dtype === 'float32'
        ? planConv3x3(x.shape, filter.shape, args.attrs as Parameters<typeof planConv3x3>[2], backend.device.limits.maxComputeWorkgroupStorageSize ?? 16384)
        : undefined;
    if (!plan) {
      calls.fallback++;
      return originalConv(args);
    }
    calls.tiled++;
    const [b, h, w, c] = x.shape;
    const program = new TiledMatMulProgram(plan.spec, 1, plan.m, plan.n);
    const out3 = backend.runWebGPUProgram(program, [x, filter], 'float32', [
      { type: 'int32', data: [plan.m] },
      { type: 'int32', data: [plan.n] },
      { type: 'int32', data: [plan.k] },
      { type: 'int32', data: [h] },
      { type: 'int32', data: [w] },
      { type: 'int32', data: [c] },
    ]);
    const out = reshape({ inputs: { x: out3 }, backend: args.backend, attrs: { shape: [b, h, w, plan.n] } } as unknown as KernelArgs) as TensorInfo;
    backend.disposeData(out3.dataId);
    return out;
  });
  registered = true;
}
