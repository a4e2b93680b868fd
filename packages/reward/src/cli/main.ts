#!/usr/bin/env node
import yargs from 'yargs';
import { hideBin } from 'yargs/helpers';
import { calibrateCommand } from './calibrate';
import { consolidateCommand } from './consolidate';
import { demoCommand } from './demo';
import { evalCommand } from './eval';
import { exportCommand } from './export';
import { initCommand } from './init';
import { scoreCommand } from './score';
import { synthCommand } from './synth';
import { trainCommand } from './train';
import { LIMIT_OPTIONS } from './validate';

/** The `rahf` program: its common options and the list of its commands, each in its own file. */
export function cli(args: string[]) {
  return yargs(args)
    .scriptName('rahf')
    .usage('$0 <command> [options]')
    .option('verbose', { type: 'boolean', default: false, describe: 'print stack traces on errors' })
    .option('backend', { type: 'string', describe: 'tfjs backend: tensorflow | webgpu | wasm | cpu (default: best installed; env RAHF_BACKEND)' })
    .options(LIMIT_OPTIONS)
    .command(scoreCommand)
    .command(initCommand)
    .command(consolidateCommand)
    .command(synthCommand)
    .command(evalCommand)
    .command(calibrateCommand)
    .command(exportCommand)
    .command(trainCommand)
    .command(demoCommand)
    .demandCommand(1, 'name a command (rahf --help lists them)')
    .strict()
    .fail((msg, err) => {
      if (err) throw err;
      process.stderr.write(`rahf: ${msg}\n`);
      process.stderr.write(`(rahf --help for usage)\n`);
      process.exitCode = 1;
    })
    .help();
}

if (require.main === module) {
  void cli(hideBin(process.argv)).parseAsync();
}
