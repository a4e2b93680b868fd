import type { Argv, CommandModule } from 'yargs';
import { UserError } from '@richhf/reward';
import * as fs from 'fs';
import { verifyOutput } from '../verify';
import { Common, guarded } from './guarded';

interface VerifyArgs extends Common {
  out: string;
}

/** `finetune verify`: read a built folder back whole and check it against its journal. */
export const verifyCommand: CommandModule<Common, VerifyArgs> = {
  command: 'verify',
  describe: 'read every shard, row and image of a built folder back and check it against the journal',
  builder: (y) => (y as Argv<Common>).option('out', { type: 'string', demandOption: true, describe: 'the folder `build` or `collect` wrote' }) as unknown as Argv<VerifyArgs>,
  handler: (argv) =>
    guarded(argv, async () => {
      if (!fs.existsSync(argv.out)) throw new UserError(`--out ${argv.out}: no such folder`);
      const r = await verifyOutput(argv.out);
      const parts = [`${r.prompts} prompts`];
      if (r.webdataset) parts.push(`webdataset ${r.webdataset.samples} samples in ${r.webdataset.shards} shards`);
      if (r.imagefolder) parts.push(`imagefolder ${r.imagefolder.samples} samples`);
      if (r.dpo) parts.push(`dpo ${r.dpo.rows} pairs in ${r.dpo.files} files`);
      process.stdout.write(parts.join(', ') + '\n');
      for (const p of r.problems) process.stdout.write(`problem: ${p}\n`);
      process.stdout.write(r.problems.length ? `${r.problems.length} problems\n` : 'whole: every committed sample present exactly once, every file reads back\n');
      return r.problems.length ? 2 : 0;
    }),
};
