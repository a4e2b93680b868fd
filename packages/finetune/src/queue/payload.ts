import type { PromptRecord } from '../journal';
import type { FinishedPrompt } from '../results';
import { EncodedImage, OutputSample, PromptOutputs } from '../writers/output';

/** A prompt as a job's data. */
export interface PromptJob {
  id: string;
  key: string;
  prompt: string;
}

type SampleJson = Omit<OutputSample, 'image'>;

/**
 * A worker's result as a job's return value (JSON in Redis): the journal record and the kept samples with
 * their images as base64 (each candidate once, even when it is both the accepted sample and a pair side).
 */
export interface JobResult {
  v: 1;
  record: PromptRecord;
  images: Record<string, { format: string; b64: string }>;
  accepted: SampleJson[];
  pair?: { margin: number; chosen: SampleJson; rejected: SampleJson };
}

export function encodeResult(f: FinishedPrompt): JobResult {
  const images: JobResult['images'] = {};
  const strip = (s: OutputSample): SampleJson => {
    const { image, ...rest } = s;
    images[String(s.candidate)] ??= { format: image.format, b64: Buffer.from(image.bytes.buffer, image.bytes.byteOffset, image.bytes.length).toString('base64') };
    return rest;
  };
  const o = f.outputs;
  return {
    v: 1,
    record: f.record,
    accepted: o.accepted.map(strip),
    images,
    pair: o.pair ? { margin: o.pair.margin, chosen: strip(o.pair.chosen), rejected: strip(o.pair.rejected) } : undefined,
  };
}

export function decodeResult(r: JobResult): { outputs: PromptOutputs; record: PromptRecord } {
  const cache = new Map<number, EncodedImage>();
  const withImage = (s: SampleJson): OutputSample => {
    let img = cache.get(s.candidate);
    if (!img) {
      const e = r.images[String(s.candidate)];
      if (!e) throw new Error(`job result of ${r.record.id}: no image for candidate ${s.candidate}`);
      img = new EncodedImage(new Uint8Array(Buffer.from(e.b64, 'base64')), e.format);
      cache.set(s.candidate, img);
    }
    return { ...s, image: img };
  };
  const first = r.accepted[0] ?? r.pair?.chosen;
  const outputs: PromptOutputs = {
    promptId: r.record.id,
    promptKey: r.record.key,
    accepted: r.accepted.map(withImage),
    pair: r.pair && first ? { promptId: r.record.id, promptKey: r.record.key, prompt: first.prompt, margin: r.pair.margin, chosen: withImage(r.pair.chosen), rejected: withImage(r.pair.rejected) } : undefined,
  };
  return { outputs, record: r.record };
}
