import * as fs from 'fs';
import * as os from 'os';
import * as path from 'path';
import * as tf from '@tensorflow/tfjs';
import { initBackend } from '../src/backend';
import { readSafetensors } from '../src/io/safetensors';
import { RewardModel } from '../src/rahf/model';
import { exportRahf } from '../src/onnx/export';
import { OnnxScorer } from '../src/onnx/scorer';
import { compare } from '../src/parity/fixtures';
import { HEATMAP_NAMES, SCORE_NAMES } from '../src/rahf/config';
(async () => {
  await initBackend();
  for (const name of process.argv.slice(2)) {
    const t0 = Date.now();
    let model: RewardModel, px: tf.Tensor4D, captions: string[], io: any;
    if (name === 'tiny') {
      model = await RewardModel.fromPreset('tiny', { tokenizer: 'test/fixtures/parity/rahf/t5/tokenizer.json', seed: 1 });
      px = tf.randomUniform([3, 128, 128, 3], -1, 1, 'float32', 5) as tf.Tensor4D;
      captions = ['a red cat', 'two dogs playing in the snow at night', 'x'];
    } else {
      const dir = `test/fixtures/parity/rahf/${name}`;
      model = await RewardModel.load(dir);
      io = readSafetensors(path.join(dir, 'io.safetensors'));
      const t = io.get('pixel_values_nchw');
      px = tf.tensor4d(t.data, t.shape).transpose([0, 2, 3, 1]);
      captions = JSON.parse(fs.readFileSync(path.join(dir, 'config.json'), 'utf8')).captions;
    }
    const out = path.join(fs.mkdtempSync(path.join(os.tmpdir(), 'rx-')), 'model.onnx');
    exportRahf(model, out, { heatmaps: true, log: console.log });
    console.log('export ms', Date.now() - t0);
    const ref = model.forward(px, captions, { heatmaps: true });
    const sc = await OnnxScorer.create(out, { threads: 2, heatmaps: true });
    const data = px.dataSync() as Float32Array;
    for (const heat of [false, true]) {
      const r = await sc.run(data, captions, { heatmaps: heat });
      for (const t of SCORE_NAMES) console.log(heat, t, compare(r.scores[t], ref.scores[t].dataSync()).maxErr, io ? compare(r.scores[t], io.get(`score_${t}`).data).maxErr : '');
      if (heat) for (const t of HEATMAP_NAMES) console.log(t, compare(r.heatmaps![t], ref.heatmaps![t].dataSync()).maxErr);
    }
    const want = await model.generateKeywordIds(px, captions, 8);
    const got = await sc.generateKeywordIds(data, captions, 8);
    console.log('kw', JSON.stringify(want), JSON.stringify(got), JSON.stringify(want) === JSON.stringify(got));
    await sc.dispose();
  }
})().catch((e) => { console.error(e); process.exit(1); });
