import { pilBilinearMatrix } from '../rahf/preprocess';
import { OnnxNode, OnnxTensor } from './proto';

/*
 * rahf/preprocess.ts's float preprocessing as ONNX nodes, put in front of a scores graph so that the
 * onnxruntime reward gradient (ort-score-grad.ts) differentiates through it, as RewardModel.scoreGrad
 * does through resizeBilinearPil.
 */

/** Graph nodes that take pixels01 [B, H, W, 3] to normalised pixel_values [B, S, S, 3] (RewardModel.preprocess). */
export function preprocessNodes(b: number, h: number, w: number, s: number, mean: number[], std: number[]): { nodes: OnnxNode[]; inits: OnnxTensor[] } {
  const nodes: OnnxNode[] = [];
  const inits: OnnxTensor[] = [];
  let k = 0;
  const i64 = (v: number[]) => {
    const name = `pre/c${k++}`;
    inits.push({ name, dtype: 'int64', dims: [v.length], data: BigInt64Array.from(v.map(BigInt)) });
    return name;
  };
  const f32 = (v: Float32Array, dims: number[]) => {
    const name = `pre/c${k++}`;
    inits.push({ name, dtype: 'float32', dims, data: v });
    return name;
  };
  const node = (op: string, inputs: string[], attrs?: OnnxNode['attrs'], out?: string) => {
    const o = out ?? `pre/v${k++}`;
    nodes.push({ op, inputs, outputs: [o], name: `pre/n${k++}`, attrs });
    return o;
  };
  let x = 'pixels01';
  if (h !== s || w !== s) {
    // Each pass one 2-D MatMul on the resized axis moved to the front, as resizeBilinearPil.
    let y = node('Transpose', [x], { perm: [1, 0, 2, 3] }); // [h, B, w, 3]
    if (h !== s) y = node('Reshape', [node('MatMul', [f32(pilBilinearMatrix(h, s), [s, h]), node('Reshape', [y, i64([h, -1])])]), i64([s, b, w, 3])]);
    y = node('Transpose', [y], { perm: [2, 1, 0, 3] }); // [w, B, s, 3]
    if (w !== s) y = node('Reshape', [node('MatMul', [f32(pilBilinearMatrix(w, s), [s, w]), node('Reshape', [y, i64([w, -1])])]), i64([s, b, s, 3])]);
    x = node('Transpose', [y], { perm: [1, 2, 0, 3] });
  }
  node('Div', [node('Sub', [x, f32(Float32Array.from(mean), [3])]), f32(Float32Array.from(std), [3])], undefined, 'pixel_values');
  return { nodes, inits };
}
