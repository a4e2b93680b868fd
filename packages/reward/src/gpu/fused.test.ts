import * as tf from '@tensorflow/tfjs';
import { fusedGeluActive, geluSource } from './gelu';
import { fusedNormsActive, normSource } from './norm';
import { fusedSoftmaxActive, softmaxSource } from './softmax';

// The WGSL runs only on a WebGPU adapter (the GPU check compares fused and composed outputs there,
// and llvmpipe runs them in dev: see scripts/build-gpu-check.sh); here: which programs are generated
// and that no other backend takes the fused path.
describe('fused webgpu norms / GELU / softmax', () => {
  it('never takes the fused path off webgpu', async () => {
    await tf.setBackend('cpu');
    const x = tf.zeros([2, 5, 8]);
    const w = tf.ones([8]);
    expect(fusedNormsActive(x, w)).toBe(false);
    expect(fusedGeluActive(x)).toBe(false);
    expect(fusedSoftmaxActive(x)).toBe(false);
    tf.dispose([x, w]);
  });

  it('generates the LayerNorm / RMS norm programs with the terms each needs', () => {
    const ln = normSource(false, false, true);
    expect(ln).toContain('let mean = wgSum0(s) / f32(d);');
    expect(ln).toContain('* G[c] + B[c]');
    const rms = normSource(true, false, false);
    expect(rms).toContain('let mean = 0.0;');
    expect(rms).not.toContain('B[c]');
    // dx needs mean(dy·g) only when the mean was subtracted
    expect(normSource(false, true, false)).toContain('wgSum2(sg)');
    expect(normSource(true, true, false)).not.toContain('wgSum2(sg)');
  });

  it("uses tfjs's erf approximation and the exact GELU derivative", () => {
    expect(geluSource(false)).toContain(String(tf.backend_util.ERF_P));
    expect(geluSource(false)).not.toContain('Dy');
    expect(geluSource(true)).toContain('exp(-0.5 * x * x)');
  });

  it('adds the broadcast bias only when there is one', () => {
    expect(softmaxSource(false, true)).toContain('getBiasByOutputIndex(base + c)');
    expect(softmaxSource(false, false)).not.toContain('getBias');
    expect(softmaxSource(true, false)).toContain('uniforms.scale * Y[base + c] * (Dy[base + c] - dot)');
  });
});
