import * as fs from 'fs';
import * as path from 'path';
import { diffusersParityDir, readTensors, relElementwise, tensor } from '../testing/parity';
import { DDIMScheduler } from './ddim';
import { EulerDiscreteScheduler } from './euler-discrete';

/*
 * diffusers parity of the schedulers: every schedulers.json + schedulers.safetensors pair under
 * <parity>/diffusers (test/fixtures/parity, or RAHF_PARITY_DIR) is a case, named by its folder. Its
 * "sd_config" configures DDIMScheduler(clip_sample=False, set_alpha_to_one=False) and EulerDiscreteScheduler;
 * timesteps, sigmas and ᾱ must be equal, chain samples within 1e-5 relative.
 */

const root = diffusersParityDir();

function caseDirs(): string[] {
  const out: string[] = [];
  const walk = (dir: string) => {
    if (!fs.existsSync(dir)) return;
    const entries = fs.readdirSync(dir, { withFileTypes: true });
    if (entries.some((e) => e.name === 'schedulers.json') && entries.some((e) => e.name === 'schedulers.safetensors')) out.push(dir);
    for (const e of entries) if (e.isDirectory()) walk(path.join(dir, e.name));
  };
  walk(root);
  return out.sort();
}

const cases = caseDirs();
const TOL = 1e-5;

/** Fails naming the key when the element-wise relative error reaches TOL. */
function within(key: string, actual: Float32Array, expected: Float32Array): void {
  const err = relElementwise(actual, expected);
  if (process.env.PARITY_VERBOSE) process.stderr.write(`${key}: ${err.toExponential(2)}\n`);
  if (!(err < TOL)) throw new Error(`${key}: relative error ${err.toExponential(3)} ≥ ${TOL}`);
}

test(`parity fixtures under ${root} contain scheduler cases`, () => {
  expect(cases.length).toBeGreaterThan(0);
});

describe.each(cases.map((dir) => [path.relative(path.dirname(root), dir) || 'diffusers', dir]))('%s schedulers', (_name, dir) => {
  const json = JSON.parse(fs.readFileSync(path.join(dir, 'schedulers.json'), 'utf8')) as { sd_config: Record<string, unknown>; euler30_init_noise_sigma: number };
  const file = path.join(dir, 'schedulers.safetensors');
  const io = readTensors(file);
  const get = (k: string) => tensor(io, k, file).data;
  const has = (prefix: string) => [...io.keys()].some((k) => k.startsWith(prefix));

  test('alphas_cumprod equals diffusers bit for bit', () => {
    const s = new DDIMScheduler(json.sd_config);
    expect([...s.alphasCumprod]).toEqual([...get('alphas_cumprod')]);
  });

  test('DDIM-50: timesteps exact, recorded steps within 1e-5', () => {
    const s = new DDIMScheduler({ ...json.sd_config, clip_sample: false, set_alpha_to_one: false });
    s.setTimesteps(50);
    expect(s.timesteps).toEqual([...(tensor(io, 'ddim50_timesteps', file).data as Float32Array)]);
    const steps = [...io.keys()].map((k) => /^ddim_(\d+)_sample$/.exec(k)).filter(Boolean).map((m) => Number(m![1]));
    expect(steps.length).toBeGreaterThan(0);
    for (const i of steps) {
      const out = s.step(get(`ddim_${i}_eps`), s.timesteps[i], get(`ddim_${i}_sample`));
      within(`ddim_${i}_pred_original_sample`, out.predOriginalSample, get(`ddim_${i}_pred_original_sample`));
      within(`ddim_${i}_prev_sample`, out.prevSample, get(`ddim_${i}_prev_sample`));
    }
  });

  (has('euler') ? test : test.skip)('Euler-30: timesteps and sigmas exact, the whole chain within 1e-5', () => {
    const s = new EulerDiscreteScheduler(json.sd_config);
    s.setTimesteps(30);
    expect(s.timesteps).toEqual([...get('euler30_timesteps')]);
    expect(s.sigmas).toEqual([...get('euler30_sigmas')]);
    expect(s.initNoiseSigma).toBe(json.euler30_init_noise_sigma);
    const epsAll = tensor(io, 'euler_eps_all', file);
    const n = epsAll.data.length / 30;
    let x = get('euler_x0');
    for (let i = 0; i < 30; i++) {
      const t = s.timesteps[i];
      const scaled = s.scaleModelInput(x, t);
      if (i === 0) within('euler_scaled_input_0', scaled, get('euler_scaled_input_0'));
      const out = s.step(epsAll.data.subarray(i * n, (i + 1) * n), t, x);
      if (io.has(`euler_${i}_pred_original_sample`)) within(`euler_${i}_pred_original_sample`, out.predOriginalSample, get(`euler_${i}_pred_original_sample`));
      x = out.prevSample;
    }
    within('euler_final', x, get('euler_final'));
  });
});
