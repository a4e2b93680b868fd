import * as fs from 'fs';
import * as path from 'path';
import { CLIPModel } from '../models/clip';
import { T5Model } from '../models/t5';
import { ViTModel } from '../models/vit';
import { rahfConfigToJson } from '../rahf/config';
import { RewardModel } from '../rahf/model';
import { writeFileAtomic } from '../util/atomic';
import { exportClipGraph } from './export-clip';
import { exportRahfDecoderGraph, exportRahfGraph, rahfOutputs, rahfTextInputs } from './export-rahf';
import { exportT5DecoderGraph, exportT5EncoderGraph } from './export-t5';
import { exportViTGraph } from './export-vit';
import { GraphBuilder } from './graph';
import { OnnxModel, WriteOptions, writeModel } from './proto';
import { QuantizeOptions, quantizeDynamic } from './quantize';
import { RahfOnnxManifest, manifestPath } from './manifest';

export { type RahfOnnxManifest, manifestPath } from './manifest';

/**
 * What to export:
 * - 'rahf' — scores graph; 'rahf-heatmaps' — scores and heatmaps; 'rahf-encoder' — caption encoder
 *   output for keyword decoding; 'rahf-decoder-init' / 'rahf-decoder' — the keyword decoder's cross
 *   keys/values and its cached step (see export-rahf.ts);
 * - 'vit' — ViTModel (last_hidden_state); 't5-encoder' — T5 encoder; 't5-decoder' — teacher-forced
 *   decoder logits [B, Ld, V]; 't5-decoder-step' — logits of the last position [B, V], no cache;
 *   'clip' — CLIPModel.
 */
export type ExportKind =
  | 'rahf'
  | 'rahf-heatmaps'
  | 'rahf-encoder'
  | 'rahf-decoder'
  | 'rahf-decoder-init'
  | 'vit'
  | 't5-encoder'
  | 't5-decoder'
  | 't5-decoder-step'
  | 'clip';

export type ExportableModel = RewardModel | ViTModel | T5Model | CLIPModel;

// eslint-disable-next-line @typescript-eslint/no-explicit-any
function expect<T>(model: ExportableModel, cls: Function & { prototype: T }, kind: ExportKind): T {
  if (!(model instanceof cls)) throw new Error(`exportOnnx: kind "${kind}" needs a ${cls.name}, got a ${model.constructor.name}`);
  return model as T;
}

/** Build the ONNX model of `model` for `kind` (opset 17; dynamic batch and text lengths). */
export function exportOnnx(model: ExportableModel, kind: ExportKind): OnnxModel {
  let g: GraphBuilder;
  switch (kind) {
    case 'rahf':
      g = exportRahfGraph(expect(model, RewardModel, kind), 'scores');
      break;
    case 'rahf-heatmaps':
      g = exportRahfGraph(expect(model, RewardModel, kind), 'heatmaps');
      break;
    case 'rahf-encoder':
      g = exportRahfGraph(expect(model, RewardModel, kind), 'encoder');
      break;
    case 'rahf-decoder':
      g = exportRahfDecoderGraph(expect(model, RewardModel, kind), 'step');
      break;
    case 'rahf-decoder-init':
      g = exportRahfDecoderGraph(expect(model, RewardModel, kind), 'init');
      break;
    case 'vit':
      g = exportViTGraph(expect(model, ViTModel, kind));
      break;
    case 't5-encoder':
      g = exportT5EncoderGraph(expect(model, T5Model, kind));
      break;
    case 't5-decoder':
      g = exportT5DecoderGraph(expect(model, T5Model, kind));
      break;
    case 't5-decoder-step':
      g = exportT5DecoderGraph(expect(model, T5Model, kind), { lastOnly: true });
      break;
    case 'clip':
      g = exportClipGraph(expect(model, CLIPModel, kind));
      break;
    default:
      throw new Error(`exportOnnx: unknown kind "${kind as string}"`);
  }
  return g.model({ docString: `richhf-ts ${kind} export` });
}

export interface ExportRahfOptions extends WriteOptions {
  /** Also write the scores + heatmaps graph (`<stem>.heatmaps.onnx`). */
  heatmaps?: boolean;
  /** Dynamic int8 quantisation of the MatMul weights. */
  quantize?: 'int8';
  quantizeOptions?: QuantizeOptions;
  /** Progress lines (file written, size). */
  log?: (line: string) => void;
}

export interface ExportRahfResult {
  manifest: string;
  files: string[];
}

/**
 * Export a RAHF model for the ONNX scorer: `out` (e.g. dir/model.onnx) holds the scores graph; beside
 * it `<stem>.decoder_init.onnx` and `<stem>.decoder.onnx` (keyword decoder: cross keys/values, cached
 * step), `<stem>.heatmaps.onnx` (with `heatmaps`),
 * `<stem>.encoder.onnx` (augmented-prompt models: the caption pass for keywords), the tokenizer files
 * and the manifest `<stem>.rahf.json`. Every file is written atomically and the manifest last, so a
 * folder with a manifest is complete.
 */
export function exportRahf(model: RewardModel, out: string, opts: ExportRahfOptions = {}): ExportRahfResult {
  if (!/\.onnx$/i.test(out)) throw new Error(`export: output file ${out} must end in .onnx`);
  const dir = path.dirname(path.resolve(out));
  fs.mkdirSync(dir, { recursive: true });
  const stem = path.basename(out).replace(/\.onnx$/i, '');
  const c = model.config;
  const log = opts.log ?? (() => undefined);
  const written: string[] = [];
  const write = (kind: ExportKind, file: string) => {
    let m = exportOnnx(model, kind);
    if (opts.quantize === 'int8') m = quantizeDynamic(m, opts.quantizeOptions);
    const r = writeModel(m, path.join(dir, file), opts);
    written.push(r.file);
    if (r.dataFile) written.push(r.dataFile);
    const mb = (r.bytes + (r.dataBytes ?? 0)) / 2 ** 20;
    log(`wrote ${r.file}${r.dataFile ? ` (+ ${path.basename(r.dataFile)})` : ''}, ${mb.toFixed(1)} MiB`);
    return file;
  };
  const files: RahfOnnxManifest['files'] = {
    scores: write('rahf', `${stem}.onnx`),
    decoderInit: write('rahf-decoder-init', `${stem}.decoder_init.onnx`),
    decoder: write('rahf-decoder', `${stem}.decoder.onnx`),
  };
  if (opts.heatmaps) files.heatmaps = write('rahf-heatmaps', `${stem}.heatmaps.onnx`);
  if (c.variant !== 'multi_head') files.encoder = write('rahf-encoder', `${stem}.encoder.onnx`);
  // Tokenizer files, so the folder is self-contained (from memory: see Tokenizer.files).
  written.push(...model.tokenizer.saveTo(dir));
  const strip = (t: ReturnType<typeof rahfTextInputs>) => t.map(({ ids, mask, kind, type }) => ({ ids, mask, kind, type }));
  const manifest: RahfOnnxManifest = {
    format: 'rahf-onnx',
    version: 1,
    config: rahfConfigToJson(c),
    files,
    inputs: { scores: strip(rahfTextInputs(c, 'scores')), heatmaps: strip(rahfTextInputs(c, 'heatmaps')), encoder: strip(rahfTextInputs(c, 'encoder')) },
    outputs: { scores: rahfOutputs(c, 'scores'), heatmaps: rahfOutputs(c, 'heatmaps') },
    encoderHiddenFromScores: c.variant === 'multi_head',
    tokenizer: 'tokenizer.json',
    quantize: opts.quantize,
    pixels: { layout: 'NHWC', size: c.imageSize, mean: [...c.imageMean], std: [...c.imageStd], normalised: true },
  };
  const mf = manifestPath(path.join(dir, `${stem}.onnx`));
  writeFileAtomic(mf, JSON.stringify(manifest, null, 2) + '\n');
  written.push(mf);
  return { manifest: mf, files: written };
}
