#!/usr/bin/env node
import yargs from 'yargs';
import { hideBin } from 'yargs/helpers';
import { proofCommand } from './proof';
import { sampleCommand } from './sample';
import { sweepCommand } from './sweep';
import { synthLdmCommand } from './synth-ldm';

/** The `guide` CLI (`pnpm guide …`): one file per command. */
export function cli(args: string[]) {
  return yargs(args)
    .scriptName('guide')
    .usage('$0 <command> [options]')
    .option('verbose', { type: 'boolean', default: false, describe: 'print stack traces on errors' })
    .command(sampleCommand)
    .command(sweepCommand)
    .command(proofCommand)
    .command(synthLdmCommand)
    .demandCommand(1, 'name a command: sample, sweep, proof, synth-ldm')
    .strict()
    .recommendCommands()
    .fail((msg, err) => {
      if (err) throw err;
      process.stderr.write(`guide: ${msg}\n(guide --help for usage)\n`);
      process.exitCode = 1;
    })
    .help();
}

if (require.main === module) {
  void cli(hideBin(process.argv)).parseAsync();
}
