import * as ort from 'onnxruntime-node';
import { T5Config, addLogitBias } from '../models/t5';
import { int64 } from './feeds';

type DecodeIds = Pick<T5Config, 'decoder_start_token_id' | 'eos_token_id' | 'pad_token_id'>;

/** First maximum of each row of logits [B, V] (torch.argmax's tie rule), after an optional logit bias. */
function argmaxRows(logits: ort.Tensor, logitBias?: ReadonlyMap<number, number>): number[] {
  const [b, v] = logits.dims as [number, number];
  let data = logits.data as Float32Array;
  if (logitBias && logitBias.size > 0) {
    data = data.slice();
    addLogitBias(data, v, logitBias);
  }
  const out: number[] = [];
  for (let r = 0; r < b; r++) {
    let best = 0;
    for (let j = 1; j < v; j++) if (data[r * v + j] > data[r * v + best]) best = j;
    out.push(best);
  }
  return out;
}

/**
 * The greedy loop both decoders share, as T5Model.generate / HF generate: rows start with
 * decoder_start_token_id, each step appends the best token (pad once a row has emitted eos) and the loop
 * stops after maxNewTokens or when every row is done. `step(rows, s)` returns the logits of the last
 * position [B, V] for the rows so far.
 */
async function greedyLoop(
  b: number,
  t5: DecodeIds,
  maxNewTokens: number,
  logitBias: ReadonlyMap<number, number> | undefined,
  step: (rows: number[][], s: number) => Promise<ort.Tensor>,
): Promise<number[][]> {
  const rows: number[][] = Array.from({ length: b }, () => [t5.decoder_start_token_id]);
  const done = new Array<boolean>(b).fill(false);
  for (let s = 0; s < maxNewTokens; s++) {
    const logits = await step(rows, s);
    const best = argmaxRows(logits, logitBias);
    logits.dispose();
    for (let r = 0; r < b; r++) {
      let tok = t5.pad_token_id;
      if (!done[r]) {
        tok = best[r];
        if (tok === t5.eos_token_id) done[r] = true;
      }
      rows[r].push(tok);
    }
    if (done.every(Boolean)) break;
  }
  return rows;
}

function maskFeed(session: ort.InferenceSession, mask: ort.Tensor | undefined, who: string, feeds: Record<string, ort.Tensor>): void {
  if (!session.inputNames.includes('encoder_attention_mask')) return;
  if (!mask) throw new Error(`${who}: the decoder graph needs encoder_attention_mask`);
  feeds.encoder_attention_mask = mask;
}

/**
 * Greedy decoding with a decoder step graph (inputs decoder_input_ids, encoder_hidden_states and,
 * when the graph has it, encoder_attention_mask; output logits [B, V] of the last position). Each step
 * re-runs the prefix (the graph has no KV cache).
 */
export async function greedyDecode(
  session: ort.InferenceSession,
  encoderHidden: ort.Tensor,
  encoderMask: ort.Tensor | undefined,
  t5: DecodeIds,
  maxNewTokens: number,
  logitBias?: ReadonlyMap<number, number>,
): Promise<number[][]> {
  const feeds: Record<string, ort.Tensor> = { encoder_hidden_states: encoderHidden };
  maskFeed(session, encoderMask, 'greedyDecode', feeds);
  return greedyLoop(encoderHidden.dims[0], t5, maxNewTokens, logitBias, async (rows) => {
    feeds.decoder_input_ids = int64(rows);
    return (await session.run(feeds)).logits;
  });
}

/**
 * Greedy decoding with the KV-cached decoder graphs (export-t5.ts exportT5CrossKVGraph /
 * exportT5CachedStepGraph), token for token the computation of T5Model.generate: the cross keys and
 * values are computed once, each step feeds only the newest token and the cache.
 */
export async function greedyDecodeCached(
  init: ort.InferenceSession,
  step: ort.InferenceSession,
  encoderHidden: ort.Tensor,
  encoderMask: ort.Tensor | undefined,
  t5: DecodeIds & Pick<T5Config, 'num_decoder_layers' | 'num_heads' | 'd_kv'>,
  maxNewTokens: number,
  logitBias?: ReadonlyMap<number, number>,
): Promise<number[][]> {
  const b = encoderHidden.dims[0];
  const cross = await init.run({ encoder_hidden_states: encoderHidden });
  const feeds: Record<string, ort.Tensor> = {};
  const empty = new ort.Tensor('float32', new Float32Array(0), [b, t5.num_heads, 0, t5.d_kv]);
  for (let i = 0; i < t5.num_decoder_layers; i++) {
    feeds[`cross_key_${i}`] = cross[`cross_key_${i}`];
    feeds[`cross_value_${i}`] = cross[`cross_value_${i}`];
    feeds[`past_key_${i}`] = empty;
    feeds[`past_value_${i}`] = empty;
  }
  maskFeed(step, encoderMask, 'greedyDecodeCached', feeds);
  try {
    return await greedyLoop(b, t5, maxNewTokens, logitBias, async (rows, s) => {
      feeds.decoder_input_ids = int64(rows.map((r) => [r[r.length - 1]]));
      const out = await step.run(feeds);
      for (let i = 0; i < t5.num_decoder_layers; i++) {
        if (s > 0) {
          feeds[`past_key_${i}`].dispose();
          feeds[`past_value_${i}`].dispose();
        }
        feeds[`past_key_${i}`] = out[`present_key_${i}`];
        feeds[`past_value_${i}`] = out[`present_value_${i}`];
      }
      return out.logits;
    });
  } finally {
    for (const t of Object.values(cross)) t.dispose();
  }
}
