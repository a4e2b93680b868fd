import type { Argv, CommandModule } from 'yargs';
import { excludesZero, formatInterval as iv } from '../proof/bootstrap';
import { runProof, type ProofResult } from '../proof/proof';
import { synthSettings } from '../synth/generator';
import { Common, guarded, paramsOption } from './guarded';
import { ScorerArgs, scorerFromArgs, scorerOptions } from './build-options';

interface ProofArgs extends Common, ScorerArgs {
  work: string;
  seed: number;
  prompts: number;
  n: number;
  samples: number;
  steps: number;
  lr: number;
  replay: number;
  trainable?: string;
  'rest-lr': number;
  generator?: string;
  param?: string[];
  json: boolean;
  progress: boolean;
}

/** The claims the proof must meet, each as a line with its verdict. */
export function proofChecks(r: ProofResult): Array<{ ok: boolean; line: string }> {
  const rel = (d: { value: number }, base: { value: number }) => -d.value / base.value;
  const gain = (d: ProofResult['delta']) => rel(d.defect_rate, r.original.defect_rate) >= 0.25 && d.defect_rate.hi < 0;
  return [
    { ok: gain(r.delta), line: `plausibility selection lowers the true defect rate by ${(100 * rel(r.delta.defect_rate, r.original.defect_rate)).toFixed(1)} % relative (≥ 25 %, interval ${iv(r.delta.defect_rate)} excludes 0)` },
    { ok: !gain(r.control_delta), line: `the random-selection control does not: ${(100 * rel(r.control_delta.defect_rate, r.original.defect_rate)).toFixed(1)} % relative, interval ${iv(r.control_delta.defect_rate)}` },
    { ok: r.by_overall_delta.alignment.value > 0 && excludesZero(r.by_overall_delta.alignment), line: `overall selection raises true alignment by ${iv(r.by_overall_delta.alignment)}` },
  ];
}

/** `finetune proof`: the paper's Table 5 on truth (see src/proof/proof.ts). */
export const proofCommand: CommandModule<Common, ProofArgs> = {
  command: 'proof',
  describe: "best-of-N finetuning of the scene generator by RAHF plausibility, measured on exact truth against the original, a random-selection control and selection by overall (resumable)",
  builder: (y) =>
    scorerOptions(y as Argv<Common>, 'RAHF checkpoint for selection and scoring (default: bundled)')
      .option('work', { type: 'string', default: 'finetune-proof', describe: 'work folder: prompts, best-of-N sets, finetuned generators, results (a rerun resumes; another --seed reuses the sets and models)' })
      .option('seed', { type: 'number', default: 0, describe: 'held-out prompts (world S test split) and sample seeds' })
      .option('prompts', { type: 'number', default: 1000, describe: 'training-split prompts the best-of-N sets are built from' })
      .option('n', { type: 'number', default: 8, describe: 'candidates per prompt' })
      .option('samples', { type: 'number', default: 1000, describe: 'held-out samples per generator' })
      .option('steps', { type: 'number', default: 300, describe: 'finetuning steps per set' })
      .option('lr', { type: 'number', default: 3e-4, describe: 'finetuning learning rate' })
      .option('replay', { type: 'number', default: 0, describe: "world training scenes per kept sample in each finetuning batch (all three finetunes alike)" })
      .option('trainable', { type: 'string', describe: 'finetune only the generator parameters whose names match this regular expression (default: all)' })
      .option('rest-lr', { type: 'number', default: 0, describe: 'with --trainable: learning-rate factor of the other parameters (0: frozen)' })
      .option('generator', { type: 'string', describe: 'generator checkpoint to finetune (default: the bundled one)' })
      .option('param', { type: 'string', array: true, describe: 'decoding: steps=8, guidance=0, temperature=1, choice_temperature=…' })
      .option('json', { type: 'boolean', default: false, describe: 'print the result as JSON' })
      .option('progress', { type: 'boolean', default: true }) as unknown as Argv<ProofArgs>,
  handler: (a) =>
    guarded(a, async () => {
      const { result: r, file } = await runProof({
        work: a.work, seed: a.seed, prompts: a.prompts, n: a.n, samples: a.samples, steps: a.steps, lr: a.lr, replay: a.replay, trainable: a.trainable, restLr: a['rest-lr'], generator: a.generator,
        decoding: synthSettings(paramsOption(a.param)), scorer: scorerFromArgs(a), progress: a.progress,
      });
      const checks = proofChecks(r);
      if (a.json) process.stdout.write(JSON.stringify(r, null, 1) + '\n');
      else {
        const rowOf = (name: string, s: ProofResult['original']) => `${name.padEnd(11)} ${iv(s.defect_rate)}  ${iv(s.plausibility)}  ${iv(s.alignment)}  ${iv(s.reward_plausibility)}`;
        process.stdout.write(
          [
            `${r.n} held-out samples per generator (seed ${a.seed}); mean [95 % bootstrap interval]`,
            `${''.padEnd(11)} ${'defect rate'.padEnd(21)}  ${'true plausibility'.padEnd(21)}  ${'true alignment'.padEnd(21)}  RAHF plausibility`,
            rowOf('original', r.original), rowOf('finetuned', r.finetuned), rowOf('control', r.control), rowOf('by overall', r.by_overall),
            ...checks.map((c) => `${c.ok ? 'holds' : 'FAILS'}: ${c.line}`),
            `written: ${file}`,
          ].join('\n') + '\n',
        );
      }
      if (a.json) for (const c of checks) process.stderr.write(`${c.ok ? 'holds' : 'FAILS'}: ${c.line}\n`);
      // A claim that does not hold is exit code 6, so a script can tell it from a failed run.
      return checks.every((c) => c.ok) ? 0 : 6;
    }),
};
