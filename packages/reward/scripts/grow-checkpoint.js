// Function-preserving growth of a training run's checkpoint (the net2net idea: Chen et al., 2016): the model
// computes exactly what it computed before, with room to learn more when training resumes. Used to test whether
// the tiny model's late plateau is a capacity limit (TRAINING.md).
//   - new ViT layers appended after the last one, their attention-output and MLP-output projections zero, so
//     each new residual block starts as the identity;
//   - a wider ViT MLP: the new hidden units get random input weights and zero output weights.
// The newest checkpoint (weights, config, AdamW moments zero-padded for the widened tensors; new tensors get
// moments on their first update) and the run's model/ are rewritten in a copy of the run; resume that copy:
//   node packages/reward/scripts/grow-checkpoint.js RUN GROWN '{"vitAddLayers":2,"vitMlp":256}'
//   pnpm rahf train --out GROWN --resume --minutes <total>
const fs = require('fs');
const path = require('path');
const R = path.join(__dirname, '..', 'dist');
const { readSafetensors, writeSafetensors } = require(R + '/io/safetensors');

// Deterministic N(0, std) from a fixed LCG seed, so a grown copy is reproducible.
let seed = 12345;
const uniform = () => ((seed = (Math.imul(seed, 1103515245) + 12345) >>> 0), seed / 4294967296);
function normal(n, std) {
  const a = new Float32Array(n);
  for (let i = 0; i < n; i++) a[i] = std * Math.sqrt(-2 * Math.log(uniform() || 1e-12)) * Math.cos(2 * Math.PI * uniform());
  return a;
}
const f32 = (shape, data) => ({ dtype: 'float32', shape, data });

/** [rows, cols] → [rows, cols2] with zero columns on the right. */
function padCols(data, rows, cols, cols2) {
  const a = new Float32Array(rows * cols2);
  for (let r = 0; r < rows; r++) a.set(data.subarray(r * cols, (r + 1) * cols), r * cols2);
  return a;
}

/** Grow one safetensors file; `moments` = AdamW state (names prefixed m./v.; padding only, zeros). */
function growFile(file, vit, o, moments) {
  const d = vit.hidden_size;
  const mlp0 = vit.intermediate_size;
  const mlp = o.vitMlp ?? mlp0;
  const out = new Map();
  for (const [key, t] of readSafetensors(file)) {
    const name = moments ? key.slice(2) : key;
    let { shape, data } = t;
    if (mlp > mlp0 && /^vit\.encoder\.layer\.\d+\.intermediate\.dense\.weight$/.test(name)) {
      const a = new Float32Array(mlp * d);
      a.set(data);
      if (!moments) a.set(normal((mlp - mlp0) * d, vit.initializer_range ?? 0.02), mlp0 * d);
      [shape, data] = [[mlp, d], a];
    } else if (mlp > mlp0 && /^vit\.encoder\.layer\.\d+\.intermediate\.dense\.bias$/.test(name)) {
      const a = new Float32Array(mlp);
      a.set(data);
      [shape, data] = [[mlp], a];
    } else if (mlp > mlp0 && /^vit\.encoder\.layer\.\d+\.output\.dense\.weight$/.test(name)) {
      [shape, data] = [[d, mlp], padCols(data, d, mlp0, mlp)];
    }
    out.set(key, f32(shape, data));
  }
  if (!moments) {
    const std = vit.initializer_range ?? 0.02;
    for (let l = vit.num_hidden_layers; l < vit.num_hidden_layers + (o.vitAddLayers ?? 0); l++) {
      const add = (n, shape, data) => out.set(`vit.encoder.layer.${l}.${n}`, f32(shape, data));
      for (const q of ['query', 'key', 'value']) {
        add(`attention.attention.${q}.weight`, [d, d], normal(d * d, std));
        add(`attention.attention.${q}.bias`, [d], new Float32Array(d));
      }
      add('attention.output.dense.weight', [d, d], new Float32Array(d * d));
      add('attention.output.dense.bias', [d], new Float32Array(d));
      add('intermediate.dense.weight', [mlp, d], normal(mlp * d, std));
      add('intermediate.dense.bias', [mlp], new Float32Array(mlp));
      add('output.dense.weight', [d, mlp], new Float32Array(d * mlp));
      add('output.dense.bias', [d], new Float32Array(d));
      for (const ln of ['layernorm_before', 'layernorm_after']) {
        add(`${ln}.weight`, [d], new Float32Array(d).fill(1));
        add(`${ln}.bias`, [d], new Float32Array(d));
      }
    }
  }
  writeSafetensors(file, out);
}

function growModelDir(dir, o) {
  const cfgFile = path.join(dir, 'config.json');
  const cfg = JSON.parse(fs.readFileSync(cfgFile, 'utf8'));
  growFile(path.join(dir, 'model.safetensors'), cfg.vit, o, false);
  cfg.vit.num_hidden_layers += o.vitAddLayers ?? 0;
  cfg.vit.intermediate_size = o.vitMlp ?? cfg.vit.intermediate_size;
  fs.writeFileSync(cfgFile, JSON.stringify(cfg, null, 2) + '\n');
}

function main() {
  const [src, dst, spec] = process.argv.slice(2);
  if (!src || !dst) throw new Error('usage: grow-checkpoint.js RUN GROWN \'{"vitAddLayers":2,"vitMlp":256}\'');
  if (fs.existsSync(dst)) throw new Error(`${dst}: already exists`);
  const o = JSON.parse(spec ?? '{}');
  const latestFile = path.join(src, 'checkpoints', 'latest');
  if (!fs.existsSync(latestFile)) throw new Error(`${src}: no checkpoints/latest (not a rahf train run)`);
  const tmp = `${dst}.tmp-${process.pid}`;
  fs.cpSync(src, tmp, { recursive: true });
  let vit;
  try {
    const ckpt = path.join(tmp, 'checkpoints', fs.readFileSync(latestFile, 'utf8').trim());
    vit = JSON.parse(fs.readFileSync(path.join(ckpt, 'config.json'), 'utf8')).vit;
    if ((o.vitMlp ?? vit.intermediate_size) < vit.intermediate_size) throw new Error('vitMlp must not shrink the MLP');
    growFile(path.join(ckpt, 'optimizer.safetensors'), vit, o, true); // before the config changes
    growModelDir(ckpt, o);
    if (fs.existsSync(path.join(tmp, 'model', 'config.json'))) growModelDir(path.join(tmp, 'model'), o);
  } catch (e) {
    fs.rmSync(tmp, { recursive: true, force: true });
    throw e;
  }
  fs.renameSync(tmp, dst); // the grown copy appears whole or not at all
  console.log(`grown: ${dst} (ViT ${vit.num_hidden_layers} → ${vit.num_hidden_layers + (o.vitAddLayers ?? 0)} layers, MLP ${vit.intermediate_size} → ${o.vitMlp ?? vit.intermediate_size})`);
}

try {
  main();
} catch (e) {
  console.error(`grow-checkpoint: ${e.message}`);
  process.exit(1);
}
