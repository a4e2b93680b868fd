import * as path from 'path';
import { resolveCheckpoint } from '../bundled';
import { exportRahf } from '../onnx/export';
import { RewardModel } from '../rahf/model';
import { UserError } from '../errors';
import { guarded, rahfCommand } from './command';
import { checkOutFile } from './validate';

export interface ExportOptions {
  /** RAHF checkpoint directory or hub id (default: the bundled checkpoint). */
  checkpoint?: string;
  /** Output .onnx file; the decoder/heatmaps/encoder graphs, tokenizer and manifest go beside it. */
  out: string;
  /** Also write the scores + heatmaps graph. */
  heatmaps?: boolean;
  /** Dynamic int8 quantisation of the MatMul weights. */
  quantize?: string;
  /** Move weights to `<file>.data` above this many bytes (default 1.9 GiB; testing aid). */
  externalDataThreshold?: number;
  log?: (line: string) => void;
}

/**
 * `rahf export`: write a checkpoint as ONNX graphs for onnxruntime (OnnxScorer). Every file is
 * written atomically and the manifest (`<stem>.rahf.json`) last.
 */
export async function runExport(opts: ExportOptions): Promise<number> {
  checkOutFile('out', opts.out);
  if (!/\.onnx$/i.test(opts.out)) throw new UserError(`--out ${opts.out}: must name a .onnx file`);
  if (opts.quantize !== undefined && opts.quantize !== 'int8') throw new UserError(`--quantize ${opts.quantize}: only "int8" is supported`);
  const log = opts.log ?? ((s: string) => process.stderr.write(`rahf: ${s}\n`));
  const model = await RewardModel.load(resolveCheckpoint(opts.checkpoint));
  try {
    const r = exportRahf(model, opts.out, {
      heatmaps: opts.heatmaps,
      quantize: opts.quantize as 'int8' | undefined,
      externalDataThreshold: opts.externalDataThreshold,
      log,
    });
    log(`exported to ${path.dirname(path.resolve(opts.out))} (manifest ${path.basename(r.manifest)})`);
  } finally {
    model.dispose();
  }
  return 0;
}

export const exportCommand = rahfCommand({
  command: 'export',
  describe: 'export a RAHF checkpoint to ONNX for onnxruntime (scores graph, keyword decoder, optional heatmaps)',
  builder: (y) =>
    y
      .option('checkpoint', { type: 'string', describe: 'RAHF checkpoint directory or HF hub id (default: bundled)' })
      .option('out', { type: 'string', demandOption: true, describe: 'output .onnx file; companion graphs, tokenizer and manifest go beside it' })
      .option('heatmaps', { type: 'boolean', default: false, describe: 'also write the scores + heatmaps graph' })
      .option('quantize', { type: 'string', choices: ['int8'], describe: 'dynamic int8 quantisation of MatMul weights' }),
  handler: (argv) => guarded(argv, () => runExport({ checkpoint: argv.checkpoint, out: argv.out, heatmaps: argv.heatmaps, quantize: argv.quantize })),
});
