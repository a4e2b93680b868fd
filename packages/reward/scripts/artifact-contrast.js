// Does a checkpoint *see* the synthetic world's artifacts? Per artifact type: the predicted implausibility map's
// mean inside the artifact's box minus its mean outside every artifact box, next to the same figure for the
// ground-truth (consolidated annotator) map; as a control, the predicted elevation on objects of artifact-free
// images (a model that only learned "artifacts sit on objects" scores the same there as inside artifacts).
// Two reference maps bound the implausibility CC: one marking only where the objects are, one marking the true
// artifact boxes (each box-blurred); both at the ground-truth maps' resolution, scored against them as `rahf eval`
// scores the model (compare with its implausibility CC).
// Needs the world's truth.jsonl, so synthetic worlds only.
//   pnpm rahf synth --out w7big --n 3000 --seed 7
//   node packages/reward/scripts/artifact-contrast.js w7big [checkpoint]   (default: the bundled one)
const path = require('path');
const R = path.join(__dirname, '..', 'dist');
const { groundTruthOf } = require(R + '/eval/evaluate');
const { forEachTestBatch } = require('./world-test-split');
const { plcc, cc, meanDefined } = require(R + '/metrics');

function boxMean(map, side, scale, box, mask) {
  let s = 0;
  let c = 0;
  for (let y = Math.floor(box[1] * scale); y < Math.min(side, Math.ceil(box[3] * scale)); y++) {
    for (let x = Math.floor(box[0] * scale); x < Math.min(side, Math.ceil(box[2] * scale)); x++) {
      s += map[y * side + x];
      c++;
      if (mask) mask[y * side + x] = 1;
    }
  }
  return s / Math.max(1, c);
}

const mean = (a) => a.reduce((x, y) => x + y, 0) / a.length;

/** Boxes (image pixels) painted on a side×side map, then two passes of a box blur of radius side/16. */
function boxMap(boxes, side, scale) {
  let m = new Float32Array(side * side);
  for (const b of boxes) boxMean(m, side, scale, b, m); // the mask argument paints 1s
  const r = Math.max(1, Math.round(side / 16));
  for (let pass = 0; pass < 2; pass++) {
    const o = new Float32Array(side * side);
    for (let y = 0; y < side; y++) {
      for (let x = 0; x < side; x++) {
        let s = 0;
        let c = 0;
        for (let yy = Math.max(0, y - r); yy <= Math.min(side - 1, y + r); yy++) {
          for (let xx = Math.max(0, x - r); xx <= Math.min(side - 1, x + r); xx++) (s += m[yy * side + xx]), c++;
        }
        o[y * side + x] = s / c;
      }
    }
    m = o;
  }
  return m;
}

function outsideMean(map, mask) {
  let s = 0;
  let c = 0;
  for (let i = 0; i < map.length; i++) if (!mask[i]) (s += map[i]), c++;
  return s / Math.max(1, c);
}

(async () => {
  const rows = {};
  const add = (type, key, v) => ((rows[type] ??= {})[key] ??= []).push(v);
  const perImage = { label: [], artifacts: [], predMass: [] };
  const refCC = { objects: [], artifacts: [] };
  // Binary entropy of the soft ground-truth pixels (every test map, empty ones too): the floor of the training
  // cross-entropy on these maps.
  const bin = (p, y) => -(y > 0 ? y * Math.log(p) : 0) - (y < 1 ? (1 - y) * Math.log(1 - p) : 0);
  const gtPixels = { sum: 0, n: 0, entropy: 0 };
  await forEachTestBatch('artifact-contrast.js', process.argv[2], process.argv[3], async (model, batch) => {
    const out = await model.predict(batch.map((b) => b.image), batch.map((b) => b.caption), { heatmaps: true });
    out.forEach((r, k) => {
      const { sample, t } = batch[k];
      const gt = groundTruthOf(sample.record, sample.uid, sample.caption);
      for (const [who, map] of [['pred', r.heatmaps.implausibility], ['gt', gt.maps.implausibility]]) {
        const side = Math.round(Math.sqrt(map.data.length));
        const scale = side / t.width;
        const mask = new Uint8Array(map.data.length);
        const inside = t.artifacts.map((a) => boxMean(map.data, side, scale, a.box, mask));
        const out0 = outsideMean(map.data, mask);
        t.artifacts.forEach((a, j) => add(a.type, who, inside[j] - out0));
        if (who === 'pred' && t.artifacts.length === 0) {
          for (const o of t.objects) add('(objects, no artifact)', who, boxMean(map.data, side, scale, o.box) - out0);
        }
      }
      const g = gt.maps.implausibility.data;
      for (const v of g) (gtPixels.sum += v), gtPixels.n++, (gtPixels.entropy += bin(v, v));
      // cc is NaN on an empty ground truth and meanDefined skips it: the non-empty maps, as `rahf eval` averages.
      const gSide = Math.round(Math.sqrt(g.length));
      refCC.objects.push(cc(boxMap(t.objects.map((o) => o.box), gSide, gSide / t.width), g));
      refCC.artifacts.push(cc(boxMap(t.artifacts.map((a) => a.box), gSide, gSide / t.width), g));
      perImage.predMass.push(mean(r.heatmaps.implausibility.data));
      perImage.label.push(gt.scores.plausibility);
      perImage.artifacts.push(t.artifacts.length);
    });
  });
  const result = { n: perImage.label.length, types: {} };
  for (const [type, r] of Object.entries(rows)) {
    result.types[type] = { count: r.pred.length, pred_elevation: +mean(r.pred).toFixed(4) };
    if (r.gt) result.types[type].gt_elevation = +mean(r.gt).toFixed(4);
  }
  result.plcc_label_vs_artifact_count = +plcc(perImage.artifacts, perImage.label).toFixed(3);
  result.plcc_label_vs_predicted_map_mean = +plcc(perImage.predMass, perImage.label).toFixed(3);
  result.plcc_artifact_count_vs_predicted_map_mean = +plcc(perImage.predMass, perImage.artifacts).toFixed(3);
  const objectsCC = meanDefined(refCC.objects);
  result.implausibility_cc = {
    objects_map: +objectsCC.mean.toFixed(3),
    true_artifact_boxes_map: +meanDefined(refCC.artifacts).mean.toFixed(3),
    n_nonempty: objectsCC.count,
  };
  const p = gtPixels.sum / gtPixels.n;
  result.heatmap_cross_entropy = {
    // per pixel; a constant map at the pixel mean p scores H(p), since the cross-entropy is linear in the target
    constant_map: +bin(p, p).toFixed(4),
    entropy_floor: +(gtPixels.entropy / gtPixels.n).toFixed(4),
  };
  console.log(JSON.stringify(result, null, 1));
})().catch((e) => {
  console.error(`artifact-contrast: ${e.message}`);
  process.exit(1);
});
