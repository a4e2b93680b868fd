/**
 * One region-inpainting attempt (RichHF §5.3): the reward's implausibility heatmap of an image becomes a
 * mask, snapped to what the generator re-generates; K re-generations of the masked part are scored, and
 * the best replaces the image only if its predicted plausibility is higher. Two kinds of generator:
 * the scene-token one (the scene tokens whose rendered region meets the mask are re-decoded, the rest kept)
 * and image generators behind AUTOMATIC1111's img2img (the mask snapped to a 16-px grid, white = repaint).
 */
import { loadImage, type Heatmap, type RgbImage, type Scorer } from '@richhf/reward';
import type { Box } from '@richhf/reward/data';
import type { A1111Generator } from '../generators/a1111';
import type { SynthGenerator } from '../synth/generator';
import { pngOf, rgbImageOf } from '../synth/generator';
import { renderTokens, type RenderedSample } from '../synth/scenes';
import { artifactSlotPositions, objectSlotPositions, OBJECT_SLOTS, ARTIFACT_SLOTS, SCENE_LEN, promptTokens } from '../synth/tokens';
import { boxesMask, heatmapMask, maskArea, maskPng, meetsBox, snapToGrid, type Mask, type MaskOptions } from './mask';

export interface InpaintOptions extends MaskOptions {
  /** Re-generations to choose from (default 4). */
  k?: number;
  /** Grid cell of image-token generators (default 16 px). */
  grid?: number;
}

/** An image as the attempt sees it: pixels for the reward, bytes for files and img2img. */
export interface Picture {
  pixels: RgbImage;
  png: Uint8Array;
  plausibility: number;
}

export interface Attempt<T> {
  before: Picture & { item: T };
  heatmap: Heatmap;
  /** The thresholded, dilated heatmap, and the mask actually repainted (snapped to the generator's footprint). */
  mask: Mask;
  snapped: Mask;
  candidates: Array<Picture & { item: T; seed: number }>;
  /** The best candidate when its plausibility beats the original's, else the original. */
  after: Picture & { item: T };
  accepted: boolean;
}

/** Scene positions to re-generate: every token of the object and artifact slots whose rendered box meets the mask. */
export function sceneFootprint(s: RenderedSample, mask: Mask): { regenerate: boolean[]; boxes: Box[] } {
  const regenerate = new Array<boolean>(SCENE_LEN).fill(false);
  const boxes: Box[] = [];
  for (let k = 0; k < OBJECT_SLOTS; k++) {
    const i = s.objectSlots[k];
    if (i >= 0 && meetsBox(mask, s.scene.objects[i].box)) {
      for (const p of objectSlotPositions(k)) regenerate[p] = true;
      boxes.push(s.scene.objects[i].box);
    }
  }
  for (let k = 0; k < ARTIFACT_SLOTS; k++) {
    const i = s.artifactSlots[k];
    if (i >= 0 && meetsBox(mask, s.scene.artifacts[i].box)) {
      for (const p of artifactSlotPositions(k)) regenerate[p] = true;
      boxes.push(s.scene.artifacts[i].box);
    }
  }
  return { regenerate, boxes };
}

async function scoreWithMap(scorer: Scorer, image: RgbImage, prompt: string): Promise<{ plausibility: number; heatmap: Heatmap }> {
  const [fb] = await scorer.score([image], [prompt], { heatmaps: true });
  return { plausibility: fb.scores.plausibility, heatmap: fb.heatmaps!.implausibility };
}

function choose<T>(before: Picture & { item: T }, candidates: Array<Picture & { item: T; seed: number }>): { after: Picture & { item: T }; accepted: boolean } {
  const best = candidates.reduce<(typeof candidates)[number] | undefined>((b, c) => (!b || c.plausibility > b.plausibility ? c : b), undefined);
  return best && best.plausibility > before.plausibility ? { after: best, accepted: true } : { after: before, accepted: false };
}

/** Inpaint one scene-generator sample: re-decode the masked scene tokens K times (seeds `seeds`). */
export async function inpaintScene(gen: SynthGenerator, sample: RenderedSample, scorer: Scorer, seeds: number[], opts: InpaintOptions = {}): Promise<Attempt<RenderedSample>> {
  const pixels = rgbImageOf(sample);
  const { plausibility, heatmap } = await scoreWithMap(scorer, pixels, sample.prompt.caption);
  const before = { item: sample, pixels, png: await pngOf(sample), plausibility };
  const { width: W, height: H } = sample.scene;
  const mask = heatmapMask(heatmap, W, H, opts);
  const { regenerate, boxes } = sceneFootprint(sample, mask);
  const snapped = boxesMask(boxes, W, H);
  if (boxes.length === 0) return { before, heatmap, mask, snapped, candidates: [], after: before, accepted: false };
  const pt = promptTokens(sample.prompt);
  const tokens = await gen.decode(seeds.slice(0, opts.k ?? 4).map((seed) => ({ prompt: pt, seed, start: sample.tokens, regenerate })));
  const rendered = tokens.map((t) => renderTokens(t, sample.prompt, W));
  const fb = await scorer.score(rendered.map(rgbImageOf), rendered.map((r) => r.prompt.caption));
  const candidates = await Promise.all(rendered.map(async (r, i) => ({ item: r, seed: seeds[i], pixels: rgbImageOf(r), png: await pngOf(r), plausibility: fb[i].scores.plausibility })));
  return { before, heatmap, mask, snapped, candidates, ...choose(before, candidates) };
}

/** Inpaint an image through AUTOMATIC1111's img2img with the grid-snapped mask. */
export async function inpaintImage(
  gen: Pick<A1111Generator, 'inpaint'>,
  image: { png: Uint8Array; source: string },
  req: { promptId: string; promptKey: string; prompt: string },
  scorer: Scorer,
  seeds: number[],
  opts: InpaintOptions = {},
): Promise<Attempt<{ source: string }>> {
  const pixels = await loadImage(Buffer.from(image.png), image.source);
  const { plausibility, heatmap } = await scoreWithMap(scorer, pixels, req.prompt);
  const before = { item: { source: image.source }, pixels, png: image.png, plausibility };
  const mask = heatmapMask(heatmap, pixels.width, pixels.height, opts);
  const snapped = snapToGrid(mask, opts.grid ?? 16);
  if (maskArea(snapped) === 0) return { before, heatmap, mask, snapped, candidates: [], after: before, accepted: false };
  const k = opts.k ?? 4;
  const cands = await gen.inpaint({ ...req, n: k, seeds: seeds.slice(0, k), image: image.png, mask: await maskPng(snapped) });
  const decoded = await Promise.all(cands.map((c) => loadImage(Buffer.from(c.bytes), c.source)));
  const fb = await scorer.score(decoded, decoded.map(() => req.prompt));
  const candidates = cands.map((c, i) => ({ item: { source: c.source }, seed: c.seed ?? seeds[i], pixels: decoded[i], png: c.bytes, plausibility: fb[i].scores.plausibility }));
  return { before, heatmap, mask, snapped, candidates, ...choose(before, candidates) };
}
