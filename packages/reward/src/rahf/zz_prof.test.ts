import * as path from 'path';
import * as tf from '@tensorflow/tfjs';
import { initBackend } from '../backend';
import { RewardModel } from './model';
import { parityDir } from '../parity/fixtures';
const PATCH = process.env.PATCH_LINEAR === '1';
jest.mock('../nn/layers', () => {
  const actual = jest.requireActual('../nn/layers');
  if (process.env.PATCH_LINEAR !== '1') return actual;
  const tfm = jest.requireActual('@tensorflow/tfjs');
  const cache = new WeakMap<object, any>();
  return { ...actual, linear: (x: any, p: any, name: string, bias = true) => {
    const w = p.get(`${name}.weight`);
    let wt = cache.get(w); if (!wt) { wt = tfm.keep(tfm.transpose(w)); cache.set(w, wt); }
    const inDim = x.shape[x.shape.length - 1]; const lead = x.shape.slice(0, -1);
    let y = tfm.matMul(x.reshape([-1, inDim]), wt);
    const b = bias ? p.maybe(`${name}.bias`) : undefined; if (b) y = tfm.add(y, b);
    return y.reshape([...lead, w.shape[0]]);
  } };
});
test('prof', async () => {
  await initBackend();
  const m = await RewardModel.fromPreset('paper', { tokenizer: path.join(parityDir(), 'rahf/t5/tokenizer.json') });
  const x = tf.randomUniform([1, 224, 224, 3], -1, 1) as tf.Tensor4D;
  for (let k = 0; k < 1; k++) {
    let t0 = Date.now();
    const o = m.forward(x, ['a red cat sitting on the sofa'], { heatmaps: false }); o.scores.overall.dataSync();
    console.log('patched', PATCH, 'scores fwd', Date.now() - t0);
    t0 = Date.now();
    const o2 = m.forward(x, ['a red cat sitting on the sofa'], { heatmaps: true }); o2.heatmaps!.misalignment.dataSync();
    console.log('patched', PATCH, 'fwd+heat', Date.now() - t0);
  }
  m.dispose();
}, 900000);
