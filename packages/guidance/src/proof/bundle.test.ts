import * as fs from 'fs';
import * as os from 'os';
import * as path from 'path';
import { generateExample } from '@richhf/reward';
import { buildSynthLdm, loadSynthLdm, SYNTH_LDM_DIR } from './bundle';

let tmp: string;
beforeAll(() => (tmp = fs.mkdtempSync(path.join(os.tmpdir(), 'guide-bundle-'))));
afterAll(() => fs.rmSync(tmp, { recursive: true, force: true }));

test('the shipped bundle: K × M members with their truth, unit-variance latents that decode to the renderings', async () => {
  const w = await loadSynthLdm(SYNTH_LDM_DIR, { threads: 1 });
  try {
    const { prompts: K, perPrompt: M, size } = w.manifest.world;
    expect(w.members).toHaveLength(K * M);
    expect(w.manifest.latentShape).toEqual([K * M, 4, size / 2, size / 2]);
    w.members.forEach((m, i) => expect([m.index, m.prompt, m.caption]).toEqual([i, i % K, w.manifest.prompts[i % K]]));
    const ms = w.latents.reduce((s, v) => s + v * v, 0) / w.latents.length;
    expect(ms).toBeGreaterThan(0.95);
    expect(ms).toBeLessThan(1.05);
    // A member decodes to (nearly) its rendering: the reward sees what the truth describes.
    const per = w.latents.length / w.members.length;
    for (const i of [0, 200]) {
      const px = await w.ae.decode(w.latents.subarray(i * per, (i + 1) * per), [1, 4, size / 2, size / 2]);
      const rgb = generateExample({ seed: w.manifest.world.seed, size, prompts: K }, i).rgb;
      const mse = px.reduce((s, v, j) => s + (v - rgb[j] / 255) ** 2, 0) / px.length;
      expect(mse).toBeLessThan(0.003); // PSNR > 25 dB
    }
    expect(fs.statSync(path.join(SYNTH_LDM_DIR, 'members.jsonl')).size + fs.statSync(path.join(SYNTH_LDM_DIR, 'ae', 'model.safetensors')).size).toBeLessThan(500_000);
  } finally {
    await w.ae.dispose();
  }
});

test('a bundle whose truth no longer matches the world is refused with the command that remakes it', async () => {
  const dir = path.join(tmp, 'tampered');
  fs.cpSync(SYNTH_LDM_DIR, dir, { recursive: true });
  const lines = fs.readFileSync(path.join(dir, 'members.jsonl'), 'utf8').split('\n');
  const m = JSON.parse(lines[3]);
  m.truth.overall += 0.1;
  lines[3] = JSON.stringify(m);
  fs.writeFileSync(path.join(dir, 'members.jsonl'), lines.join('\n'));
  await expect(loadSynthLdm(dir, { threads: 1 })).rejects.toThrow(/members.jsonl: member 3 \(synth-29-000003\) no longer matches .*remake the bundle with `pnpm guide synth-ldm/);
  await expect(loadSynthLdm(path.join(tmp, 'none'))).rejects.toThrow(/no manifest.json/);
});

test('buildSynthLdm writes a loadable bundle and resumes its training', async () => {
  const out = path.join(tmp, 'small');
  const opts = { out, prompts: 2, perPrompt: 3, aeSteps: 4, batch: 1, threads: 1, progress: false, log: () => undefined };
  const m = await buildSynthLdm(opts);
  expect(m.latentShape).toEqual([6, 4, 64, 64]);
  expect(m.prompts).toHaveLength(2);
  expect(m.command).toBe(`pnpm guide synth-ldm --out ${out} --seed 29 --prompts 2 --per-prompt 3 --ae-steps 4`);
  const logs: string[] = [];
  const again = await buildSynthLdm({ ...opts, log: (l) => logs.push(l) });
  expect(logs).toContain('patch autoencoder: resuming at step 4 of 4');
  expect(again.scalingFactor).toBe(m.scalingFactor);
  const w = await loadSynthLdm(out, { threads: 1 });
  expect(w.members.map((x) => x.prompt)).toEqual([0, 1, 0, 1, 0, 1]);
  await w.ae.dispose();
});
