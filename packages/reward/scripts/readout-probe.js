// Is a checkpoint's score readout the limit, or what its trunk encodes? Fits ridge regressions (linear probes) from
// features of the heads' input to the four score labels on a training split and reports test-split PLCC, next to the
// heads' own outputs:
//   head   the four score heads' outputs
//   hm     statistics of the predicted heatmaps (implausibility mean, max, mean square, fraction > 0.2 and > 0.4;
//          misalignment mean and max)
//   pool   the heads' feature map (encoder image positions + stem skip + pooled caption, as the config has them),
//          mean- and max-pooled per channel
//   cap    the caption states the keyword decoder reads (the caption positions of the encoder output; grounded for
//          word_grounding checkpoints), mean- and max-pooled
//   all    head, hm and pool together; all+cap with cap
// Each line gives the test PLCC for ridge strengths 1e-3 / 1e-2 / 1e-1 (features standardised on the training split).
// If no probe beats `head` clearly, the heads already read out what the trunk carries.
//   pnpm rahf synth --out w7big --n 3000 --seed 7
//   node packages/reward/scripts/readout-probe.js <train data> w7big [checkpoint] [train limit, default 3000]
// It reaches into RewardModel's private building blocks (visual, stemSkip, encodeParts, featureMap, score,
// heatmap) to get the feature map the heads read; a diagnostic, not API.
const path = require('path');
const R = path.join(__dirname, '..', 'dist');
const tf = require('@tensorflow/tfjs');
const { initBackend } = require(R + '/backend');
const { resolveCheckpoint } = require(R + '/bundled');
const { RewardModel } = require(R + '/rahf/model');
const { captionMean } = require(R + '/rahf/caption-pool');
const { openEvalDataset, decodeSampleImage } = require(R + '/eval/dataset');
const { plcc } = require(R + '/metrics');
const { gram, ridge } = require('./linear-fit');

const SCORES = ['plausibility', 'alignment', 'aesthetics', 'overall'];
const LABELS = ['artifactScore', 'misalignmentScore', 'aestheticsScore', 'overallScore'];

async function features(model, data, split, limit) {
  const ds = await openEvalDataset({ data, split, limit });
  const rows = [];
  let batch = [];
  const flush = async () => {
    const images = await Promise.all(batch.map(decodeSampleImage));
    const pixels = await model.preprocessImages(images);
    const out = tf.tidy(() => {
      const { tokens, stem } = model.visual(pixels);
      const parts = model.encodeParts(tokens, model.stemSkip(stem), batch.map((s) => s.caption));
      const { textMask } = parts;
      const f = model.featureMap(parts);
      // The caption states (what the keyword decoder reads; pads masked out), mean- and max-pooled per channel.
      const ch = parts.caption;
      const capMean = captionMean(ch, textMask);
      const capMax = tf.max(tf.add(ch, tf.mul(tf.sub(tf.expandDims(tf.cast(textMask, 'float32'), 2), 1), 1e9)), 1);
      const imp = model.heatmap(f, 'implausibility');
      const mis = model.heatmap(f, 'misalignment');
      const frac = (t) => tf.mean(tf.cast(tf.greater(imp, t), 'float32'), [1, 2]);
      const hm = [tf.mean(imp, [1, 2]), tf.max(imp, [1, 2]), tf.mean(tf.square(imp), [1, 2]), frac(0.2), frac(0.4), tf.mean(mis, [1, 2]), tf.max(mis, [1, 2])];
      return [tf.stack(SCORES.map((t) => model.score(f, t)), 1), tf.stack(hm, 1), tf.concat([tf.mean(f, [1, 2]), tf.max(f, [1, 2])], 1), tf.concat([capMean, capMax], 1)];
    });
    const [head, hm, pool, cap] = await Promise.all(out.map((t) => t.array()));
    tf.dispose([...out, pixels]);
    batch.forEach((s, i) => rows.push({ head: head[i], hm: hm[i], pool: pool[i], cap: cap[i], y: LABELS.map((k) => s.record[k]) }));
    batch = [];
  };
  for await (const s of ds.samples()) {
    batch.push(s);
    if (batch.length === 16) await flush();
  }
  if (batch.length) await flush();
  return rows;
}

function standardise(train, test) {
  const d = train[0].length;
  const mu = new Array(d).fill(0);
  const sd = new Array(d).fill(0);
  for (const x of train) x.forEach((v, j) => (mu[j] += v / train.length));
  for (const x of train) x.forEach((v, j) => (sd[j] += (v - mu[j]) ** 2 / train.length));
  const f = (x) => x.map((v, j) => (v - mu[j]) / Math.sqrt(sd[j] + 1e-12));
  return [train.map(f), test.map(f)];
}

(async () => {
  const [trainData, testData, ckArg, limitArg] = process.argv.slice(2);
  if (!trainData || !testData) {
    console.error('usage: node readout-probe.js <train data dir> <test data dir> [checkpoint] [train limit]');
    process.exit(2);
  }
  await initBackend();
  const model = await RewardModel.load(resolveCheckpoint(ckArg));
  const train = await features(model, trainData, 'train', Number(limitArg ?? 3000));
  const test = await features(model, testData, 'test');
  console.log(`${train.length} training and ${test.length} test samples; test PLCC at ridge 1e-3 / 1e-2 / 1e-1`);
  const sets = { head: (r) => r.head, hm: (r) => r.hm, pool: (r) => r.pool, cap: (r) => r.cap, all: (r) => [...r.pool, ...r.hm, ...r.head], 'all+cap': (r) => [...r.pool, ...r.hm, ...r.head, ...r.cap] };
  for (const [name, sel] of Object.entries(sets)) {
    const [a, b] = standardise(train.map(sel), test.map(sel));
    const G = gram(a);
    const cells = SCORES.map((score, k) => {
      const r = [1e-3, 1e-2, 1e-1].map((lambda) => {
        const f = ridge(G, a, train.map((t) => t.y[k]), lambda);
        return plcc(b.map(f), test.map((t) => t.y[k])).toFixed(3);
      });
      return `${score} ${r.join(' / ')}`;
    });
    console.log(`${name.padEnd(8)} ${cells.join('   ')}`);
  }
  model.dispose();
})().catch((e) => {
  console.error(`readout-probe: ${e.message}`);
  process.exit(1);
});
