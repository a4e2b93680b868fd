import * as os from 'os';
import { Rng, samplePrompt } from '@richhf/reward/data';
import { SynthModel } from '../synth/checkpoint';
import { decodeScenes } from '../synth/sample';
import { renderTokens } from '../synth/scenes';
import { promptTokens } from '../synth/tokens';

/*
 * Scene-generator figures (a benchmark, never a test; the coordinator wires it into `pnpm bench`):
 * - synth_generator_samples_per_s: scenes per second from the bundled generator with 8 decoding steps and no
 *   guidance — tokens sampled, decoded to a scene and rendered to pixels with exact truth — over `scenes`
 *   held-out prompts in batches of 128 (the batch the builder's generator fills), after one warm-up batch;
 *   the median of `runs` runs.
 * - synth_generator_decode_per_s: the same without rendering (the transformer alone).
 * - synth_generator_cfg_samples_per_s: with classifier-free guidance (a second, prompt-dropped pass per step).
 */

export interface BenchSynthOptions {
  checkpoint?: string;
  /** Scenes per run (default 512). */
  scenes?: number;
  runs?: number;
  steps?: number;
  threads?: number;
  log?: (line: string) => void;
}

export async function benchSynthGenerator(o: BenchSynthOptions = {}): Promise<Record<string, number>> {
  const log = o.log ?? ((l: string) => process.stderr.write(l + '\n'));
  const n = o.scenes ?? 512;
  const runs = o.runs ?? 3;
  const steps = o.steps ?? 8;
  const model = await SynthModel.open(o.checkpoint, o.threads);
  try {
    const prompts = Array.from({ length: n }, (_, i) => samplePrompt(new Rng(99, i, 'prompt')));
    const items = prompts.map((p, i) => ({ prompt: promptTokens(p), seed: i }));
    const median = (xs: number[]) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)];
    const time = async (guidance: number, render: boolean): Promise<number> => {
      await decodeScenes(model, items.slice(0, 128), { steps, guidance });
      const rates: number[] = [];
      for (let r = 0; r < runs; r++) {
        const t0 = process.hrtime.bigint();
        const tokens = await decodeScenes(model, items, { steps, guidance, batch: 128 });
        if (render) tokens.forEach((t, i) => renderTokens(t, prompts[i], model.config.image_size));
        rates.push(n / (Number(process.hrtime.bigint() - t0) / 1e9));
      }
      return median(rates);
    };
    const out: Record<string, number> = { load_avg_1m_start: os.loadavg()[0] };
    out.synth_generator_samples_per_s = await time(0, true);
    log(`scene generator, ${steps} steps: ${out.synth_generator_samples_per_s.toFixed(1)} scenes/s sampled and rendered`);
    out.synth_generator_decode_per_s = await time(0, false);
    log(`  transformer alone: ${out.synth_generator_decode_per_s.toFixed(1)} scenes/s`);
    out.synth_generator_cfg_samples_per_s = await time(2, true);
    log(`  with classifier-free guidance: ${out.synth_generator_cfg_samples_per_s.toFixed(1)} scenes/s`);
    out.load_avg_1m_end = os.loadavg()[0];
    return out;
  } finally {
    await model.dispose();
  }
}

if (require.main === module) {
  const args = process.argv.slice(2);
  const value = (flag: string) => (args.includes(flag) ? args[args.indexOf(flag) + 1] : undefined);
  const runs = value('--runs');
  void benchSynthGenerator({ checkpoint: value('--checkpoint'), runs: runs ? Number(runs) : undefined }).then((r) => process.stdout.write(JSON.stringify(r, null, 1) + '\n'));
}
