// Accuracy cost of int8: PLCC of an fp32 and an int8 ONNX export on a data folder's test split.
//   pnpm rahf synth --out w7 --n 600 --seed 7
//   pnpm rahf export --out fp32/model.onnx && pnpm rahf export --out int8/model.onnx --quantize int8
//   node packages/reward/scripts/int8-plcc.js w7 fp32 int8
const path = require('path');
const R = path.join(__dirname, '..', 'dist');
const { OnnxScorer } = require(R + '/onnx/scorer');
const { openEvalDataset, decodeSampleImage } = require(R + '/eval/dataset');
const { plcc } = require(R + '/metrics');
const { SCORE_FIELDS } = require(R + '/eval/evaluate');
const { SCORE_NAMES } = require(R + '/rahf/config');
(async () => {
  const ds = await openEvalDataset({ data: process.argv[2], split: 'test' });
  const imgs = [], prompts = [], gt = Object.fromEntries(SCORE_NAMES.map((k) => [k, []]));
  for await (const s of ds.samples()) {
    imgs.push(await decodeSampleImage(s));
    prompts.push(s.caption);
    for (const k of SCORE_NAMES) gt[k].push(s.record[SCORE_FIELDS[k]]);
  }
  const res = {};
  for (const v of [process.argv[3], process.argv[4]]) {
    const sc = await OnnxScorer.create(v);
    const out = await sc.score(imgs, prompts);
    res[v] = Object.fromEntries(SCORE_NAMES.map((k) => [k, plcc(out.map((o) => o.scores[k]), gt[k])]));
  }
  const [a, b] = [res[process.argv[3]], res[process.argv[4]]];
  console.log(JSON.stringify({ n: prompts.length, fp32: a, int8: b, max_abs_plcc_change: Math.max(...SCORE_NAMES.map((k) => Math.abs(a[k] - b[k]))) }));
})();
