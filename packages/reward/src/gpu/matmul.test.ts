import { planConv3x3, planTiled, tiledMatMulSource } from './matmul';

// The WGSL itself runs only on a WebGPU adapter (the GPU check compares it with tfjs's kernels there);
// here: which products take the tiled program, with which tile and load widths.
describe('tiled webgpu matMul plan', () => {
  it('takes large products, with the 128-tile only when it still fills the GPU', () => {
    const big = planTiled([32, 197, 768], [3072, 768], false, true)!; // a ViT MLP at batch 32
    expect(big.spec.tile.bm).toBe(128);
    expect([big.batch, big.m, big.n, big.k]).toEqual([32, 197, 3072, 768]);
    expect(big.batchB).toBe(1);
    const b1 = planTiled([197, 768], [768, 768], false, true)!; // the same layer at batch 1: 4×12 workgroups
    expect(b1.spec.tile.bm).toBe(64);
  });

  it('uses vec4 loads only along contiguous dimensions that are multiples of 4', () => {
    const p = planTiled([384, 197, 197], [384, 197, 64], false, false)!; // attention probabilities × V
    expect(p.spec.vecA).toBe(false); // A rows of 197
    expect(p.spec.vecB).toBe(true);
    expect(p.spec.vecOut).toBe(true);
    const t = planTiled([258, 100], [258, 36], true, false)!; // Aᵀ: A's rows (M = 100) are contiguous
    expect(t.spec.vecA).toBe(true);
    expect(t.m).toBe(100);
  });

  it("leaves skinny, partially broadcast and mismatched products to tfjs's kernels", () => {
    expect(planTiled([1, 2352], [2048, 2352], false, true)).toBeUndefined(); // one row
    expect(planTiled([300, 8], [8, 300], false, false)).toBeUndefined(); // short K
    expect(planTiled([2, 3, 40, 24], [3, 24, 36], false, false)).toBeUndefined(); // batch 6 vs 3
    expect(planTiled([40, 24], [25, 36], false, false)).toBeUndefined();
  });

  it('plans 3×3 same convolutions with C % 4 == 0 as implicit GEMMs', () => {
    const c = planConv3x3([32, 14, 14, 768], [3, 3, 768, 384], { strides: 1, pad: 'same', dataFormat: 'NHWC', dilations: [1, 1] })!;
    expect([c.m, c.n, c.k]).toEqual([32 * 196, 384, 9 * 768]);
    expect(c.spec.conv3x3).toBe(true);
    expect(planConv3x3([1, 14, 14, 6], [3, 3, 6, 8], { strides: 1, pad: 'same' })).toBeUndefined(); // C = 6
    expect(planConv3x3([1, 14, 14, 8], [3, 3, 8, 8], { strides: 2, pad: 'same' })).toBeUndefined();
    expect(planConv3x3([1, 14, 14, 8], [3, 3, 8, 8], { strides: 1, pad: 'valid' })).toBeUndefined();
    expect(planConv3x3([1, 14, 14, 8], [3, 3, 8, 1], { strides: 1, pad: 'same' })).toBeUndefined(); // one output channel
  });

  it('emits one accumulator per output vec4 of a thread and the im2col loader for convs', () => {
    const big = tiledMatMulSource(planTiled([32, 197, 768], [3072, 768], false, true)!.spec);
    expect(big.match(/var acc\d+_\d+ = /g)).toHaveLength(16); // 8 rows × 2 vec4
    expect(big).not.toContain('uniforms.H');
    const conv = tiledMatMulSource(planConv3x3([2, 14, 14, 64], [3, 3, 64, 48], { strides: 1, pad: 'same' })!.spec);
    expect(conv.match(/var acc\d+_\d+ = /g)).toHaveLength(4); // 64-tile: 4 rows × 1 vec4
    expect(conv).toContain('let tap = kk / uniforms.C');
  });
});
