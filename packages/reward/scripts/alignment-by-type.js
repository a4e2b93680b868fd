// Which kinds of misalignment does a checkpoint see? On a synthetic world's test split, grouped by the world's truth:
// - the alignment head: for images with exactly one misalignment (and those with several), the shift of its mean
//   prediction from the aligned images' mean, in units of the aligned images' spread (a kind the head cannot see
//   stays near 0);
// - the keyword decoder: recall of the misaligned words by kind, and how often correctly depicted words are marked
//   (colour words apart, where the errors concentrate);
// - per image, the correlation of alignment with the number of marked words and of misaligned words.
// Words are matched by their text within the image's prompt. Needs the world's truth.jsonl, so synthetic worlds only.
//   pnpm rahf synth --out w7big --n 3000 --seed 7
//   node packages/reward/scripts/alignment-by-type.js w7big [checkpoint]   (default: the bundled one)
const path = require('path');
const R = path.join(__dirname, '..', 'dist');
const { groundTruthOf } = require(R + '/eval/evaluate');
const { plcc } = require(R + '/metrics');
const { forEachTestBatch } = require('./world-test-split');

const COLOURS = new Set(require(R + '/data/synth/grammar').COLOUR_NAMES);
const mean = (a) => a.reduce((x, y) => x + y, 0) / a.length;
const sd = (a) => Math.sqrt(mean(a.map((x) => (x - mean(a)) ** 2)));

(async () => {
  const dir = process.argv[2];
  const head = {}; // kind → predicted alignment
  const recall = {}; // kind → [hits, words]
  const falseMarks = { colour: [0, 0], other: [0, 0] };
  const perImage = { label: [], marked: [], misalignedWords: [] };
  await forEachTestBatch('alignment-by-type.js', dir, process.argv[3], async (model, batch) => {
    const out = await model.predict(batch.map((b) => b.image), batch.map((b) => b.caption), { heatmaps: false });
    out.forEach((r, k) => {
      const { sample, t } = batch[k];
      const kind = t.misalignments.length === 0 ? 'aligned' : t.misalignments.length === 1 ? t.misalignments[0].type : '(several)';
      (head[kind] ??= []).push(r.scores.alignment);
      const marked = new Set(r.misaligned ?? []);
      const bad = new Set();
      for (const m of t.misalignments) {
        for (const w of m.words) {
          bad.add(w);
          const c = (recall[m.type] ??= [0, 0]);
          c[0] += marked.has(t.words[w]) ? 1 : 0;
          c[1]++;
        }
      }
      t.words.forEach((w, i) => {
        if (bad.has(i)) return;
        const c = falseMarks[COLOURS.has(w) ? 'colour' : 'other'];
        c[0] += marked.has(w) ? 1 : 0;
        c[1]++;
      });
      perImage.label.push(groundTruthOf(sample.record, sample.uid, sample.caption).scores.alignment);
      perImage.marked.push((r.misaligned ?? []).length);
      perImage.misalignedWords.push(bad.size);
    });
  });
  const base = head.aligned ?? [];
  if (base.length < 2) throw new Error(`${dir}: fewer than two aligned test images`);
  const result = { n: perImage.label.length, alignment_head_shift: {}, keyword_recall: {}, false_marks: {} };
  for (const [kind, v] of Object.entries(head)) {
    if (kind !== 'aligned') result.alignment_head_shift[kind] = { count: v.length, shift_in_sd: +((mean(v) - mean(base)) / sd(base)).toFixed(2) };
  }
  for (const [kind, [h, n]] of Object.entries(recall)) result.keyword_recall[kind] = { words: n, recall: +(h / n).toFixed(2) };
  for (const [kind, [h, n]] of Object.entries(falseMarks)) result.false_marks[kind] = { words: n, rate: +(h / n).toFixed(2) };
  result.plcc_alignment_vs_marked_words = +plcc(perImage.marked, perImage.label).toFixed(3);
  result.plcc_alignment_vs_misaligned_words = +plcc(perImage.misalignedWords, perImage.label).toFixed(3);
  console.log(JSON.stringify(result, null, 1));
})().catch((e) => {
  console.error(`alignment-by-type: ${e.message}`);
  process.exit(1);
});
