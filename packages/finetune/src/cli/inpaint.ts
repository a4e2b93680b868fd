import type { Argv, CommandModule } from 'yargs';
import { formatInterval as iv } from '../proof/bootstrap';
import { runInpaint } from '../inpaint/run';
import { Common, guarded, paramsOption } from './guarded';
import { ScorerArgs, scorerFromArgs, scorerOptions } from './build-options';

interface InpaintArgs extends Common, ScorerArgs {
  generator: string;
  prompts?: string;
  'held-out'?: number;
  images?: string;
  out: string;
  k: number;
  threshold: number;
  dilate: number;
  grid: number;
  seed: number;
  param?: string[];
  timeout: number;
  retries: number;
  json: boolean;
  progress: boolean;
}

/** `finetune inpaint`: implausibility heatmap → mask → K re-generations → keep the best if RAHF plausibility rises. */
export const inpaintCommand: CommandModule<Common, InpaintArgs> = {
  command: 'inpaint',
  describe: 'heatmap-masked inpainting: mask the implausible region, re-generate it K times, keep the best if predicted plausibility rises (writes before / mask / after PNGs; resumable)',
  builder: (y) =>
    scorerOptions(y as Argv<Common>)
      .option('generator', { type: 'string', demandOption: true, describe: 'synth[:DIR] (scene tokens) | a1111:URL (img2img with the mask)' })
      .option('prompts', { type: 'string', describe: 'prompts file (.jsonl or text)' })
      .option('held-out', { type: 'number', describe: "synth: the first N prompts of the world's test split instead (truth known: summary.json has the proof)" })
      .option('images', { type: 'string', describe: 'a1111: start from DIR/<prompt key>.png instead of generating each image first' })
      .option('out', { type: 'string', demandOption: true, describe: 'output folder: <key>/before.png, mask.png (white = repaint), after.png; results.jsonl; summary.json' })
      .option('k', { type: 'number', default: 4, describe: 're-generations per image' })
      .option('threshold', { type: 'number', default: 0.15, describe: 'implausibility heatmap value that flags a pixel' })
      .option('dilate', { type: 'number', default: 4, describe: 'pixels the flagged region grows by' })
      .option('grid', { type: 'number', default: 16, describe: 'image generators: token grid cell the mask snaps to (px)' })
      .option('seed', { type: 'number', default: 0, describe: 'image and re-generation seeds derive from it and the prompt id' })
      .option('param', { type: 'string', array: true, describe: 'generator settings key=value (synth: steps, guidance…; a1111: img2img fields such as denoising_strength)' })
      .option('timeout', { type: 'number', default: 600, describe: 'HTTP generators: seconds per request' })
      .option('retries', { type: 'number', default: 3 })
      .option('json', { type: 'boolean', default: false, describe: 'print summary.json' })
      .option('progress', { type: 'boolean', default: true }) as unknown as Argv<InpaintArgs>,
  handler: (a) =>
    guarded(a, async () => {
      const s = await runInpaint({
        generator: a.generator, generatorOptions: { params: paramsOption(a.param), timeoutSeconds: a.timeout, retries: a.retries },
        prompts: a.prompts, heldOut: a['held-out'], images: a.images, out: a.out, k: a.k, threshold: a.threshold, dilate: a.dilate, grid: a.grid, seed: a.seed,
        scorer: scorerFromArgs(a), progress: a.progress,
      });
      if (a.json) process.stdout.write(JSON.stringify(s, null, 1) + '\n');
      else {
        const lines = [
          `${s.images} images: ${s.repainted} with a region to repaint, ${s.accepted} repainted (predicted plausibility rose)`,
          `RAHF plausibility: before ${iv(s.reward_plausibility.before)}, after ${iv(s.reward_plausibility.after)}`,
        ];
        if (s.truth) {
          lines.push(
            `truth: true artifacts fell in ${iv(s.truth.share_fell)} of images, rose in ${iv(s.truth.share_rose)}`,
            `truth: artifacts removed ${iv(s.truth.removed, 2)} and introduced ${iv(s.truth.introduced, 2)} per image; true plausibility ${iv(s.truth.plausibility_delta)}`,
          );
        }
        lines.push(`written: ${a.out}/<key>/{before,mask,after}.png, ${a.out}/results.jsonl, ${a.out}/summary.json`);
        process.stdout.write(lines.join('\n') + '\n');
      }
      return 0;
    }),
};
