#!/usr/bin/env node
import yargs from 'yargs';
import { hideBin } from 'yargs/helpers';
import '../synth/register';
import { buildCommand } from './build';
import { collectCommand } from './collect';
import { enqueueCommand } from './enqueue';
import { generatorCommand } from './generator';
import { inpaintCommand } from './inpaint';
import { proofCommand } from './proof';
import { verifyCommand } from './verify';
import { workerCommand } from './worker';

/** The `finetune` CLI (`pnpm finetune …`): one file per command. */
export function cli(args: string[]) {
  return yargs(args)
    .scriptName('finetune')
    .usage('$0 <command> [options]')
    .option('verbose', { type: 'boolean', default: false, describe: 'print stack traces on errors' })
    .command(buildCommand)
    .command(enqueueCommand)
    .command(workerCommand)
    .command(collectCommand)
    .command(verifyCommand)
    .command(generatorCommand)
    .command(proofCommand)
    .command(inpaintCommand)
    .demandCommand(1, 'name a command: build, enqueue, worker, collect, verify, generator, proof, inpaint')
    .strict()
    .recommendCommands()
    .help();
}

if (require.main === module) {
  void cli(hideBin(process.argv)).parseAsync();
}
