// What a synthetic world's labels allow, independent of any model. On the world's test split:
// - each consolidated score (three simulated annotators, rahf consolidate) against the world's latent truth, PLCC —
//   how far a perfect model of the truth could get;
// - the overall label against the best least-squares combination of the latent plausibility and aesthetics — what a
//   model that knew both exactly but nothing of prompt–image alignment could reach for overall (the world's overall is
//   0.4 plausibility + 0.35 alignment + 0.25 aesthetics, src/data/synth/world.ts).
//   pnpm rahf synth --out w7big --n 3000 --seed 7
//   node packages/reward/scripts/label-ceiling.js w7big
const fs = require('fs');
const path = require('path');
const R = path.join(__dirname, '..', 'dist');
const { readRichHF } = require(R + '/data/richhf');
const { uidOf } = require(R + '/data/record');
const { plcc } = require(R + '/metrics');
const { gram, ridge } = require('./linear-fit');

const FIELDS = { plausibility: 'artifactScore', alignment: 'misalignmentScore', aesthetics: 'aestheticsScore', overall: 'overallScore' };

/** Least-squares fit of y on the columns of xs (with an intercept): the fitted values. */
function fitted(xs, y) {
  const X = y.map((_, i) => xs.map((x) => x[i]));
  const f = ridge(gram(X), X, y, 0);
  return X.map(f);
}

(async () => {
  const dir = process.argv[2];
  if (!dir) throw new Error('usage: label-ceiling.js WORLD_DIR');
  const truthFile = path.join(dir, 'truth.jsonl');
  if (!fs.existsSync(truthFile)) throw new Error(`${dir}: no truth.jsonl (a synthetic world from rahf synth is needed)`);
  const truth = new Map(fs.readFileSync(truthFile, 'utf8').trim().split('\n').map((l) => ((t) => [t.uid, t])(JSON.parse(l))));
  const label = { plausibility: [], alignment: [], aesthetics: [], overall: [] };
  const latent = { plausibility: [], alignment: [], aesthetics: [], overall: [] };
  for await (const r of readRichHF(path.join(dir, 'test.tfrecord'))) {
    const uid = uidOf(r.filename);
    const t = truth.get(uid);
    if (!t) throw new Error(`${dir}: ${uid} is not in truth.jsonl`);
    for (const [k, f] of Object.entries(FIELDS)) {
      label[k].push(r[f]);
      latent[k].push(t.latent[k]);
    }
  }
  const out = { n: label.overall.length, label_vs_latent: {}, overall_without_alignment: {} };
  for (const k of Object.keys(FIELDS)) out.label_vs_latent[k] = +plcc(label[k], latent[k]).toFixed(3);
  out.overall_without_alignment.latent_plausibility_aesthetics = +plcc(label.overall, fitted([latent.plausibility, latent.aesthetics], label.overall)).toFixed(3);
  out.overall_without_alignment.labels_plausibility_aesthetics = +plcc(label.overall, fitted([label.plausibility, label.aesthetics], label.overall)).toFixed(3);
  out.overall_with_alignment_labels = +plcc(label.overall, fitted([label.plausibility, label.aesthetics, label.alignment], label.overall)).toFixed(3);
  console.log(JSON.stringify(out, null, 1));
})().catch((e) => {
  console.error(`label-ceiling.js: ${e.message}`);
  process.exit(1);
});
