// Function-preserving growth of a training run's checkpoint (the net2net idea: Chen et al., 2016): the model
// computes exactly what it computed before, with room to learn more when training resumes. Used to test whether
// the tiny model's late plateau is a capacity limit (TRAINING.md).
//   - new ViT layers appended after the last one, their attention-output and MLP-output projections zero, so
//     each new residual block starts as the identity;
//   - a wider ViT MLP: the new hidden units get zero output weights;
//   - word grounding (rahf/word-grounding.ts): its output projection zero, so the caption states start unchanged.
// New weights otherwise start as a fresh model's (rahf/init.ts, seed 0).
// The newest checkpoint (weights, config, AdamW moments zero-padded for the widened tensors; new tensors get
// moments on their first update) and the run's model/ are rewritten in a copy of the run; "options" replaces
// training options of that checkpoint (a resumed run keeps its own), e.g. the loss weights or
// wordGroundingLrScale; resume that copy:
//   node packages/reward/scripts/grow-checkpoint.js RUN GROWN '{"vitAddLayers":2,"vitMlp":256}'
//   node packages/reward/scripts/grow-checkpoint.js RUN GROWN '{"wordGrounding":true,"options":{"wordGroundingLrScale":10}}'
//   pnpm rahf train --out GROWN --resume --minutes <total>
const fs = require('fs');
const path = require('path');
const R = path.join(__dirname, '..', 'dist');
const { initBackend } = require(R + '/backend');
const { readSafetensors, writeSafetensors } = require(R + '/io/safetensors');
const { rahfConfigFromJson } = require(R + '/rahf/config');
const { initRahfParams, rahfParamShapes } = require(R + '/rahf/init');
const { WORD_GROUNDING } = require(R + '/rahf/word-grounding');

// Residual-branch outputs of a ViT layer: zero in a new layer makes the block the identity.
const BRANCH_OUT = /^vit\.encoder\.layer\.\d+\.(attention\.output|output)\.dense\.weight$/;
const MLP_IN = /^vit\.encoder\.layer\.\d+\.intermediate\.dense\.(weight|bias)$/;
const MLP_OUT = /^vit\.encoder\.layer\.\d+\.output\.dense\.weight$/;
// New tensors: ViT layers and word grounding; of those, these start at zero.
const NEW = (name) => name.startsWith('vit.encoder.layer.') || name.startsWith(`${WORD_GROUNDING}.`);
const ZERO = (name) => BRANCH_OUT.test(name) || name.startsWith(`${WORD_GROUNDING}.o.`);

const grownJson = (json, o) => ({
  ...json,
  ...(o.wordGrounding ? { word_grounding: true } : {}),
  vit: { ...json.vit, num_hidden_layers: json.vit.num_hidden_layers + (o.vitAddLayers ?? 0), intermediate_size: o.vitMlp ?? json.vit.intermediate_size },
});

/** [rows, cols] → [rows, cols2] with zero columns on the right. */
function padCols(data, rows, cols, cols2) {
  const a = new Float32Array(rows * cols2);
  for (let r = 0; r < rows; r++) a.set(data.subarray(r * cols, (r + 1) * cols), r * cols2);
  return a;
}

/**
 * Grow one safetensors file of a checkpoint whose config is `json`. `fresh`: the grown config's ViT layer
 * parameters ({shape, data}) as the project initialises a new model (rahf/init.ts); null for the
 * AdamW state (names m./v.), which is only zero-padded — new tensors get moments on their first update.
 */
function growFile(file, json, o, fresh) {
  const d = json.vit.hidden_size;
  const mlp0 = json.vit.intermediate_size;
  const mlp = o.vitMlp ?? mlp0;
  const out = new Map();
  for (const [key, t] of readSafetensors(file)) {
    const name = fresh ? key : key.slice(2);
    let data = t.data;
    let shape = t.shape;
    if (mlp > mlp0 && MLP_IN.test(name)) {
      // New hidden units: fresh input weights (biases 0); rows are units, so they append.
      const a = fresh ? fresh.get(name).data.slice() : new Float32Array(mlp * (shape.length === 2 ? d : 1));
      a.set(data);
      [shape, data] = [shape.length === 2 ? [mlp, d] : [mlp], a];
    } else if (mlp > mlp0 && MLP_OUT.test(name)) {
      [shape, data] = [[d, mlp], padCols(data, d, mlp0, mlp)]; // zero outgoing weights
    }
    out.set(key, { dtype: 'float32', shape, data });
  }
  if (fresh) {
    for (const [name, { shape, data }] of fresh) {
      if (out.has(name)) continue; // only new tensors
      out.set(name, { dtype: 'float32', shape, data: ZERO(name) ? new Float32Array(data.length) : data });
    }
  }
  writeSafetensors(file, out);
}

/** The grown config's ViT layer and word grounding parameters as a fresh model of it starts (seed 0), by name. */
function freshParams(grown, dir) {
  const c = rahfConfigFromJson(grown, dir);
  const shapes = new Map(rahfParamShapes(c)); // checkpoint layout, which is the internal one for these tensors
  const params = initRahfParams(c, 0, { skip: (n) => !NEW(n) });
  return new Map([...params].map(([n, v]) => [n, { shape: shapes.get(n), data: v.dataSync() }]));
}

/**
 * Weights and config of one model folder, from its own config.json (model/ may carry a calibrated keyword bias
 * that the checkpoint's config does not).
 */
function growModelDir(dir, o, fresh) {
  const cfgFile = path.join(dir, 'config.json');
  const json = JSON.parse(fs.readFileSync(cfgFile, 'utf8'));
  growFile(path.join(dir, 'model.safetensors'), json, o, fresh);
  fs.writeFileSync(cfgFile, JSON.stringify(grownJson(json, o), null, 2) + '\n');
}

async function main() {
  const [src, dst, spec] = process.argv.slice(2);
  if (!src || !dst) throw new Error('usage: grow-checkpoint.js RUN GROWN \'{"vitAddLayers":2,"vitMlp":256,"wordGrounding":true}\'');
  if (fs.existsSync(dst)) throw new Error(`${dst}: already exists`);
  const o = JSON.parse(spec ?? '{}');
  const latestFile = path.join(src, 'checkpoints', 'latest');
  if (!fs.existsSync(latestFile)) throw new Error(`${src}: no checkpoints/latest (not a rahf train run)`);
  await initBackend(undefined, { quiet: true }); // the fresh weights are drawn with tfjs
  const tmp = `${dst}.tmp-${process.pid}`;
  fs.cpSync(src, tmp, { recursive: true });
  let vit;
  let grown;
  try {
    const ckpt = path.join(tmp, 'checkpoints', fs.readFileSync(latestFile, 'utf8').trim());
    const json = JSON.parse(fs.readFileSync(path.join(ckpt, 'config.json'), 'utf8'));
    vit = json.vit;
    grown = grownJson(json, o).vit;
    if (grown.intermediate_size < vit.intermediate_size) throw new Error('vitMlp must not shrink the MLP');
    const fresh = freshParams(grownJson(json, o), ckpt);
    growFile(path.join(ckpt, 'optimizer.safetensors'), json, o, null);
    growModelDir(ckpt, o, fresh);
    if (o.options) {
      const stateFile = path.join(ckpt, 'trainer_state.json');
      const state = JSON.parse(fs.readFileSync(stateFile, 'utf8'));
      state.options = { ...state.options, ...o.options };
      fs.writeFileSync(stateFile, JSON.stringify(state));
    }
    if (fs.existsSync(path.join(tmp, 'model', 'config.json'))) growModelDir(path.join(tmp, 'model'), o, fresh);
  } catch (e) {
    fs.rmSync(tmp, { recursive: true, force: true });
    throw e;
  }
  fs.renameSync(tmp, dst); // the grown copy appears whole or not at all
  const wg = (o.wordGrounding ? ', word grounding added' : '') + (o.options ? `, options ${JSON.stringify(o.options)}` : '');
  console.log(`grown: ${dst} (ViT ${vit.num_hidden_layers} → ${grown.num_hidden_layers} layers, MLP ${vit.intermediate_size} → ${grown.intermediate_size}${wg})`);
}

main().catch((e) => {
  console.error(`grow-checkpoint: ${e.message}`);
  process.exit(1);
});
