import * as fs from 'fs';
import * as path from 'path';
import { initBackend } from '@richhf/reward';
import { caseDirsWith, diffusersParityDir, readTensors, relToMax, tensor } from '../testing/parity';
import { TfAutoencoder } from './autoencoder';
import { VaeCheckpoint, readVaeCheckpoint } from './checkpoint';
import { OrtDecoder } from './ort-decoder';

/*
 * diffusers parity of the decoders: every folder of <parity>/diffusers/ (test/fixtures/parity, or
 * RAHF_PARITY_DIR) whose config.json names a VAE class and that holds io.safetensors is a case. io: latents
 * (the sampler's), decoded = vae.decode(latents / scaling_factor).sample, weight_for_grad W and
 * grad_latents_of_sum_decoded_times_weight = d Σ(decoded · W) / d latents. Tolerance: 1e-4 of the
 * reference's largest magnitude, on the tfjs path and on the onnxruntime path.
 *
 * ReLU ties: TAESD's latent gradient is discontinuous wherever a ReLU's input is 0, and fp32 rounding decides
 * the side of the few units that sit within ~1e-6 of it. At the TAESD fixture two such units each move a local
 * cluster of the gradient, by 1.0e-3 and 1.4e-3 of its largest value: tfjs misses the reference by 1.4e-3 at
 * the fixture latents and matches it to 1.3e-6 at the first nudged point below; onnxruntime with a plain
 * upsample-then-conv graph missed by 1.0e-3, and a 1e-6 relative change of the latents moved its gradient by
 * that same 1.0e-3 (its sub-pixel graph now lands on PyTorch's side). No fp32 implementation can promise the
 * side of a tie, so the gradient must hold to 1e-4 at the fixture latents or, failing that, at one of a few
 * fixed points within 1e-6 (relative) of them, where the ties fall on PyTorch's side; a real error in a
 * gradient rule shows at all of them. `decoded` is held to 1e-4 at the fixture latents themselves.
 * PARITY_VERBOSE=1 prints the errors.
 */

const VAE_CLASSES = ['AutoencoderTiny', 'AutoencoderKL'];
const cases = caseDirsWith('config.json', 'io.safetensors').filter((dir) =>
  VAE_CLASSES.includes(JSON.parse(fs.readFileSync(path.join(dir, 'config.json'), 'utf8'))._class_name),
);
const TOL = 1e-4;
const NUDGES = 5;

/** The latents scaled by 1 + 1e-6·sin(·): a point within fp32 noise of the fixture's (k = 0: the fixture's). */
function nudge(latents: Float32Array, k: number): Float32Array {
  return k === 0 ? latents : latents.map((v, i) => v * (1 + 1e-6 * Math.sin(i * 12.9898 + k * 78.233)));
}

type Vjp = (latents: Float32Array) => Promise<{ sample: Float32Array; gradLatents: Float32Array }>;

async function checkCase(label: string, vjp: Vjp, io: ReturnType<typeof readTensors>, file: string): Promise<void> {
  const latents = tensor(io, 'latents', file).data;
  const decoded = tensor(io, 'decoded', file).data;
  const ref = tensor(io, 'grad_latents_of_sum_decoded_times_weight', file).data;
  const first = await vjp(latents);
  const decodedErr = relToMax(first.sample, decoded);
  expect(decodedErr).toBeLessThan(TOL);
  const errors = [relToMax(first.gradLatents, ref)];
  for (let k = 1; errors[errors.length - 1] >= TOL && k <= NUDGES; k++) errors.push(relToMax((await vjp(nudge(latents, k))).gradLatents, ref));
  if (process.env.PARITY_VERBOSE) process.stderr.write(`${label}: decoded ${decodedErr.toExponential(2)}, gradient ${errors.map((e) => e.toExponential(2)).join(' → ')}\n`);
  if (errors[errors.length - 1] >= TOL) throw new Error(`latent gradient off by ${errors.map((e) => e.toExponential(2)).join(', ')} (fixture latents, then ${NUDGES} points within 1e-6)`);
}

beforeAll(async () => {
  await initBackend();
});

test(`parity fixtures under ${diffusersParityDir()} contain VAE cases`, () => {
  expect(cases.length).toBeGreaterThan(0);
});

describe.each(cases.map((dir) => [path.basename(dir), dir]))('diffusers/%s', (name, dir) => {
  let ckpt: VaeCheckpoint;
  let io: ReturnType<typeof readTensors>;
  const file = path.join(dir, 'io.safetensors');

  beforeAll(async () => {
    ckpt = await readVaeCheckpoint(dir);
    io = readTensors(file);
  });

  const shape = () => tensor(io, 'latents', file).shape as [number, number, number, number];
  const weight = () => tensor(io, 'weight_for_grad', file).data;

  test(`${name}: tfjs decode and latent gradient match diffusers`, async () => {
    const vae = TfAutoencoder.fromCheckpoint(ckpt);
    try {
      await checkCase(`${name} tfjs`, (z) => vae.decodeDiffusersVjp(z, shape(), weight()), io, file);
    } finally {
      await vae.dispose();
    }
  });

  test(`${name}: onnxruntime decode and latent gradient match diffusers`, async () => {
    const vae = new OrtDecoder(ckpt);
    try {
      await checkCase(`${name} onnxruntime`, (z) => vae.decodeDiffusersVjp(z, shape(), weight()), io, file);
      // The forward-only graph too (a different session from the gradient graph's).
      expect(relToMax(await vae.decodeDiffusers(tensor(io, 'latents', file).data, shape()), tensor(io, 'decoded', file).data)).toBeLessThan(TOL);
    } finally {
      await vae.dispose();
    }
  });
});
