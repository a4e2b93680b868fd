import { loadImage, type RgbImage, type Scorer } from '@richhf/reward';
import { allInOrder } from '@richhf/reward/util';
import sharp from 'sharp';
import { Candidate, GenerateRequest, GeneratorError } from './generator';
import type { Scores } from './selection';
import { EncodedImage } from './writers/output';

/** A candidate ready to score: decoded pixels, its encoded bytes kept for the writers. */
export interface DecodedCandidate extends Omit<Candidate, 'pixels'> {
  pixels?: RgbImage;
  image: EncodedImage;
  width: number;
  height: number;
}

export interface ScoredCandidate extends DecodedCandidate {
  scores: Scores;
}

export interface Group<C> {
  req: GenerateRequest;
  candidates: C[];
}

/**
 * libvips' operation cache (sharp's default: up to 50 MB and 100 operations) keeps decoded images that a
 * best-of-N run never reads twice; over hours it only grows the process. Turned off once a run starts (it is
 * process-wide, like sharp's own setting).
 */
export function dropImageCache(): void {
  sharp.cache(false);
}

/**
 * Decode a generator's candidates (sharp, off the JS thread): an image that does not decode is a
 * GeneratorError naming its source and prompt, not a crash in the scorer.
 */
export async function decodeCandidates(req: GenerateRequest, candidates: Candidate[]): Promise<DecodedCandidate[]> {
  // The error names the first bad candidate in order, not whichever decode lost the race.
  return allInOrder(
    candidates.map(async (c): Promise<DecodedCandidate> => {
      const buf = Buffer.from(c.bytes.buffer, c.bytes.byteOffset, c.bytes.length);
      let format: string | undefined;
      let pixels: RgbImage;
      try {
        format = (await sharp(buf).metadata()).format;
        pixels = c.pixels ?? (await loadImage(buf, c.source));
      } catch (e) {
        const msg = (e as Error).message.split('\n')[0].replace(`${c.source}: `, '');
        throw new GeneratorError(`${c.source}: candidate ${c.index} of prompt ${JSON.stringify(req.promptId)} does not decode (${msg})`);
      }
      if (!format) throw new GeneratorError(`${c.source}: candidate ${c.index} of prompt ${JSON.stringify(req.promptId)}: unknown image format`);
      return { ...c, pixels, image: new EncodedImage(c.bytes, format), width: pixels.width, height: pixels.height };
    }),
  );
}

/**
 * Scores groups of candidates, filling the scorer's batches across prompts (N = 4 with batch 8 scores two
 * prompts per forward pass), and yields each lot of groups once scored, in order. The caller drops the
 * pixels once it has selected (and decoded keywords for) the winners, so memory holds about a lot's worth
 * plus what the generators have in flight.
 */
export async function* scoreGroups(
  groups: AsyncIterable<Group<DecodedCandidate>>,
  scorer: Scorer,
  batchSize: number,
): AsyncGenerator<Group<ScoredCandidate>[]> {
  let lot: Group<DecodedCandidate>[] = [];
  let count = 0;
  const flush = async (): Promise<Group<ScoredCandidate>[]> => {
    const flat = lot.flatMap((g) => g.candidates.map((c) => ({ c, prompt: g.req.prompt })));
    const fb = await scorer.score(flat.map((x) => x.c.pixels!), flat.map((x) => x.prompt), { batchSize, keywords: false, heatmaps: false });
    let i = 0;
    const scored = lot.map((g) => ({
      req: g.req,
      candidates: g.candidates.map((c) => ({ ...c, scores: fb[i++].scores as Scores })),
    }));
    lot = [];
    count = 0;
    return scored;
  };
  try {
    for await (const g of groups) {
      lot.push(g);
      count += g.candidates.length;
      if (count >= batchSize) yield await flush();
    }
  } catch (e) {
    // The source failed (a generator fault): finish the prompts already generated, then stop, so the run
    // keeps them and a rerun resumes after them.
    if (lot.length) yield await flush();
    throw e;
  }
  if (lot.length) yield await flush();
}
