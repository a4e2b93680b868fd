// Shared by the synthetic-world diagnostics (artifact-contrast.js, alignment-by-type.js): a checkpoint and a world's
// test split in batches of 16, each test image with its record (sample), the world's truth (t), the decoded image and
// caption. Needs the world's truth.jsonl, so synthetic worlds only.
const fs = require('fs');
const path = require('path');
const R = path.join(__dirname, '..', 'dist');
const { initBackend } = require(R + '/backend');
const { resolveCheckpoint } = require(R + '/bundled');
const { RewardModel } = require(R + '/rahf/model');
const { openEvalDataset, decodeSampleImage } = require(R + '/eval/dataset');

/** `onBatch(model, batch)` for each batch of the test split of world `dir`, scored by `checkpoint` (default: bundled). */
async function forEachTestBatch(script, dir, checkpoint, onBatch) {
  if (!dir) throw new Error(`usage: ${script} WORLD_DIR [checkpoint]`);
  if (!fs.existsSync(path.join(dir, 'truth.jsonl'))) throw new Error(`${dir}: no truth.jsonl (a synthetic world from rahf synth is needed)`);
  await initBackend();
  const model = await RewardModel.load(resolveCheckpoint(checkpoint));
  const truth = new Map(
    fs.readFileSync(path.join(dir, 'truth.jsonl'), 'utf8').trim().split('\n').map((l) => {
      const t = JSON.parse(l);
      return [t.uid, t];
    }),
  );
  const ds = await openEvalDataset({ data: dir, split: 'test' });
  let batch = [];
  for await (const sample of ds.samples()) {
    const t = truth.get(sample.uid);
    if (!t) throw new Error(`${dir}: ${sample.uid} is not in truth.jsonl`);
    batch.push({ sample, t, image: await decodeSampleImage(sample), caption: sample.caption });
    if (batch.length === 16) {
      await onBatch(model, batch);
      batch = [];
    }
  }
  if (batch.length) await onBatch(model, batch);
}

module.exports = { forEachTestBatch };
