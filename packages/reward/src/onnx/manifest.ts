import * as fs from 'fs';
import * as path from 'path';

/** The sidecar written next to an exported RAHF model: everything the scorer needs besides the graphs. */
export interface RahfOnnxManifest {
  format: 'rahf-onnx';
  version: 1;
  /** Our self-contained config.json object (rahfConfigToJson). */
  config: Record<string, unknown>;
  /** Graph files relative to the manifest's folder. */
  files: { scores: string; heatmaps?: string; encoder?: string; decoder: string; decoderInit: string };
  /** Text inputs of each graph (see rahfTextInputs). */
  inputs: Record<'scores' | 'heatmaps' | 'encoder', { ids: string; mask?: string; kind: string; type?: string }[]>;
  outputs: Record<'scores' | 'heatmaps', string[]>;
  /** Whether `encoder_hidden` comes from the scores graph (multi-head) or needs the encoder graph. */
  encoderHiddenFromScores: boolean;
  tokenizer: string;
  quantize?: 'int8';
  /** Pixel layout and preprocessing the graphs expect. */
  pixels: { layout: 'NHWC'; size: number; mean: number[]; std: number[]; normalised: true };
}

/** `<dir>/<stem>.rahf.json` for a model file `<dir>/<stem>.onnx`. */
export function manifestPath(onnxFile: string): string {
  return path.join(path.dirname(onnxFile), `${path.basename(onnxFile).replace(/\.onnx$/i, '')}.rahf.json`);
}

/** The manifest of an export: its .onnx file, its manifest, or the folder holding one manifest. */
export function findManifest(ref: string): string {
  if (!fs.existsSync(ref)) throw new Error(`${ref}: no such file or directory`);
  if (fs.statSync(ref).isDirectory()) {
    const found = fs.readdirSync(ref).filter((f) => f.endsWith('.rahf.json'));
    if (found.length === 0) throw new Error(`${ref}: no *.rahf.json manifest (export the model with \`rahf export\`)`);
    if (found.length > 1) throw new Error(`${ref}: several manifests (${found.join(', ')}); pass the .onnx file`);
    return path.join(ref, found[0]);
  }
  const mf = manifestPath(ref.replace(/\.rahf\.json$/i, '.onnx'));
  if (!fs.existsSync(mf)) throw new Error(`${ref}: no manifest ${path.basename(mf)} beside it (export the model with \`rahf export\`)`);
  return mf;
}

export function readManifest(file: string): RahfOnnxManifest {
  let m: RahfOnnxManifest;
  try {
    m = JSON.parse(fs.readFileSync(file, 'utf8'));
  } catch (e) {
    throw new Error(`${file}: not a readable JSON manifest (${(e as Error).message.split('\n')[0]})`);
  }
  if (m?.format !== 'rahf-onnx' || m.version !== 1) throw new Error(`${file}: not a rahf-onnx version 1 manifest`);
  return m;
}
