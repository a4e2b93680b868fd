import type { Argv, CommandModule } from 'yargs';
import { defaultCacheDir } from '../synth/data';
import { evaluateGenerator } from '../synth/evaluate';
import { synthSettings } from '../synth/generator';
import type { TruthRates } from '../synth/rates';
import { Common, guarded, paramsOption } from './guarded';

interface EvalArgs extends Common {
  checkpoint?: string;
  n: number;
  seed: number;
  param?: string[];
  'train-scenes': number;
  'cache-dir': string;
  json: boolean;
}

const pct = (v: number) => `${(100 * v).toFixed(1)} %`;
const row = (name: string, r: TruthRates) =>
  `${name.padEnd(22)} ${pct(r.defect_rate).padStart(7)} ${pct(r.misalignment_rate).padStart(13)} ${r.plausibility.toFixed(3).padStart(12)} ${r.alignment.toFixed(3).padStart(9)} ${r.artifacts_per_image.toFixed(2).padStart(9)} ${r.objects_per_image.toFixed(2).padStart(7)}`;

/** `finetune generator eval`: the generator's truth rates beside the world's, copies of training scenes, speed. */
export const generatorEvalCommand: CommandModule<Common, EvalArgs> = {
  command: 'eval',
  describe: "sample the scene generator on held-out prompts: artifact and misalignment rates beside the world's, copies of training scenes, scenes/s",
  builder: (y) =>
    (y as Argv<Common>)
      .option('checkpoint', { type: 'string', describe: 'generator checkpoint folder (default: the bundled one)' })
      .option('n', { type: 'number', default: 1000, describe: "held-out prompts (the world's test split), one sample each" })
      .option('seed', { type: 'number', default: 0, describe: 'world whose test-split prompts are used; sample seeds derive from it' })
      .option('param', { type: 'string', array: true, describe: 'decoding: steps=8, guidance=0, temperature=1, choice_temperature=…' })
      .option('train-scenes', { type: 'number', default: 50000, describe: 'training scenes (world 0) to look copies up in' })
      .option('cache-dir', { type: 'string', default: defaultCacheDir() })
      .option('json', { type: 'boolean', default: false }) as unknown as Argv<EvalArgs>,
  handler: (a) =>
    guarded(a, async () => {
      const r = await evaluateGenerator({ checkpoint: a.checkpoint, n: a.n, seed: a.seed, decoding: synthSettings(paramsOption(a.param)), trainScenes: a['train-scenes'], cacheDir: a['cache-dir'] });
      if (a.json) process.stdout.write(JSON.stringify(r, null, 1) + '\n');
      else {
        process.stdout.write(
          [
            `${r.n} held-out prompts of world ${r.seed}, one sample each`,
            `${''.padEnd(22)} ${'defect'.padStart(7)} ${'misaligned'.padStart(13)} ${'plausibility'.padStart(12)} ${'alignment'.padStart(9)} ${'artifacts'.padStart(9)} ${'objects'.padStart(7)}`,
            row('generator', r.generator),
            row('world (planned truth)', r.world.planned),
            row('world (via tokens)', r.world.tokens),
            `exact copies of a training scene: ${r.copies.exact} of ${r.copies.of} (${r.copies.training_scenes} training scenes)`,
            `${r.scenes_per_s.toFixed(1)} scenes/s (sampled, decoded, rendered)`,
          ].join('\n') + '\n',
        );
      }
      return 0;
    }),
};
