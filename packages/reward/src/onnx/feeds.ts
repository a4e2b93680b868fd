import * as ort from 'onnxruntime-node';
import { RahfConfig, taskPrompt } from '../rahf/config';
import { Tokenizer } from '../tokenizer';

/** Rows of ids as an int64 tensor [B, L]. */
export function int64(rows: number[][]): ort.Tensor {
  const b = rows.length;
  const l = rows[0]?.length ?? 0;
  const data = new BigInt64Array(b * l);
  rows.forEach((r, i) => r.forEach((v, j) => (data[i * l + j] = BigInt(v))));
  return new ort.Tensor('int64', data, [b, l]);
}

/** A text input of a RAHF graph, as the manifest and rahfTextInputs describe it. */
export interface TextInputSpec {
  ids: string;
  mask?: string;
  kind: string;
  type?: string;
}

export interface TextFeeds {
  feeds: Record<string, ort.Tensor>;
  /** Token length of each input, in order. */
  lens: number[];
  /** The caption's token mask [B, L] (what the keyword decoder reads), when an input is the caption. */
  captionMask?: ort.Tensor;
}

/**
 * Token ids (and masks, for configs that mask padding) of every text input of a graph: the caption
 * itself, or the augmented variant's task strings built from it (rahf/config.ts taskPrompt).
 */
export function textFeeds(config: RahfConfig, tokenizer: Tokenizer, inputs: TextInputSpec[], prompts: string[]): TextFeeds {
  const out: TextFeeds = { feeds: {}, lens: [] };
  for (const t of inputs) {
    const texts = t.kind === 'caption' ? prompts : prompts.map((p) => taskPrompt(config.augmentedPromptFormat, t.kind as 'SCORE' | 'HEATMAP', t.type!, p));
    const enc = tokenizer.encodeBatch(texts, { maxLength: config.maxTextTokens });
    out.feeds[t.ids] = int64(enc.ids);
    const mask = int64(enc.mask);
    if (t.mask) out.feeds[t.mask] = mask;
    if (t.kind === 'caption') out.captionMask = mask;
    out.lens.push(enc.ids[0]?.length ?? 0);
  }
  return out;
}
