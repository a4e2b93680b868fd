import * as fs from 'fs';
import * as os from 'os';
import * as path from 'path';
import { UserError } from '@richhf/reward';
import { createScheduler, loadScheduler, parseSchedulerName, schedulerFromConfig, SCHEDULER_NAMES } from './index';

// What a user's scheduler_config.json turns into (the SD 1.5 one, abridged from the hub repo).
const PNDM_SD15 = {
  _class_name: 'PNDMScheduler',
  _diffusers_version: '0.6.0',
  beta_end: 0.012,
  beta_schedule: 'scaled_linear',
  beta_start: 0.00085,
  num_train_timesteps: 1000,
  set_alpha_to_one: false,
  skip_prk_steps: true,
  steps_offset: 1,
  trained_betas: null,
  clip_sample: false,
};

test('_class_name picks the port; a class without one falls back to the named scheduler with the same keys', () => {
  for (const name of SCHEDULER_NAMES) {
    const s = createScheduler(name, PNDM_SD15);
    expect(schedulerFromConfig({ ...PNDM_SD15, _class_name: s.className }).name).toBe(name);
  }
  const ddim = schedulerFromConfig(PNDM_SD15, { fallback: 'ddim' });
  expect(ddim.className).toBe('DDIMScheduler');
  expect(ddim.config).toMatchObject({ beta_schedule: 'scaled_linear', steps_offset: 1, set_alpha_to_one: false, clip_sample: false, timestep_spacing: 'leading' });
  expect(() => schedulerFromConfig(PNDM_SD15, { source: 'sd/scheduler/scheduler_config.json' })).toThrow(
    /^sd\/scheduler\/scheduler_config.json: _class_name "PNDMScheduler" has no port here/,
  );
  // Each class keeps its own defaults for keys the config leaves out (Euler: linspace; DDIM: leading).
  expect(createScheduler('euler', {}).config.timestep_spacing).toBe('linspace');
  expect(createScheduler('ddim', {}).config.timestep_spacing).toBe('leading');
});

test('trained_betas replace the schedule', () => {
  const s = createScheduler('ddpm', { trained_betas: [0.1, 0.2, 0.3, 0.4] });
  expect([...s.alphasCumprod].map((v) => +v.toFixed(6))).toEqual([0.9, 0.72, 0.504, 0.3024]);
  s.setTimesteps(2);
  expect(s.timesteps).toEqual([2, 0]);
});

test('bad names and values are one-line UserErrors naming the option or file and key', () => {
  expect(() => parseSchedulerName('heun')).toThrow(new UserError("scheduler 'heun': unknown scheduler; expected one of ddim, euler, euler-a, ddpm"));
  const cases: Array<[Record<string, unknown>, RegExp]> = [
    [{ beta_schedule: 'sigmoid' }, /beta_schedule "sigmoid" is not one of linear, scaled_linear, squaredcos_cap_v2/],
    [{ prediction_type: 'flow' }, /prediction_type "flow" is not one of epsilon, v_prediction, sample/],
    [{ timestep_spacing: 'karras' }, /timestep_spacing "karras" is not one of linspace, leading, trailing/],
    [{ num_train_timesteps: 0 }, /num_train_timesteps 0 is not an integer ≥ 1/],
    [{ beta_end: 2 }, /beta_end 2 is not in \(0, 1\)/],
    [{ trained_betas: 'x' }, /trained_betas "x" is not a list of numbers/],
    [{ clip_sample: 'yes' }, /clip_sample "yes" is not true or false/],
  ];
  for (const [cfg, msg] of cases) {
    let err: unknown;
    try {
      createScheduler('ddim', cfg, { source: 'm/scheduler_config.json' });
    } catch (e) {
      err = e;
    }
    expect(err).toBeInstanceOf(UserError);
    expect((err as Error).message).toMatch(/^m\/scheduler_config.json: /);
    expect((err as Error).message).toMatch(msg);
    expect((err as Error).message).not.toContain('\n');
  }
});

test('loadScheduler reads a file and names it in errors', () => {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'guide-sched-'));
  try {
    const file = path.join(dir, 'scheduler_config.json');
    fs.writeFileSync(file, JSON.stringify({ ...PNDM_SD15, _class_name: 'EulerDiscreteScheduler', timestep_spacing: 'trailing' }));
    const s = loadScheduler(file);
    s.setTimesteps(4);
    expect(s.timesteps).toEqual([999, 749, 499, 249]);
    fs.writeFileSync(file, '{"beta_schedule": ');
    expect(() => loadScheduler(file)).toThrow(new RegExp(`^${file.replace(/[.*+?^${}()|[\]\\/]/g, '\\$&')}: not JSON`));
    expect(() => loadScheduler(path.join(dir, 'missing.json'))).toThrow(/missing.json: no such file/);
  } finally {
    fs.rmSync(dir, { recursive: true, force: true });
  }
});
