/**
 * From prompts and tokens to rendered scenes with exact truth: the synthetic world's prompt parser on the
 * way in, its renderer on the way out (the decoder of the scene tokens), and the truth a generated scene
 * is judged by — the artifacts it drew, the misalignments between its objects and its prompt.
 */
import { UserError } from '@richhf/reward';
import { parsePrompt, renderScene, type PromptSpec, type Scene, type SceneTruth } from '@richhf/reward/data';
import { decodeScene, promptTokens } from './tokens';

/** The prompt spec of a caption of the synthetic world's grammar (a clear error for any other text). */
export function synthPrompt(caption: string, where = 'prompt'): PromptSpec {
  const p = parsePrompt(caption);
  if (!p) throw new UserError(`${where} ${JSON.stringify(caption)} is not a caption of the synthetic world's grammar (the synth generator draws only those; see @richhf/reward's docs/synthetic-world.md)`);
  return p;
}

export interface RenderedSample {
  /** The prompt with an unnamed background set to the one the scene uses (as the world's prompts are). */
  prompt: PromptSpec;
  tokens: Int32Array;
  scene: Scene;
  /** HWC 8-bit RGB. */
  rgb: Uint8Array;
  truth: SceneTruth;
  objectSlots: number[];
  artifactSlots: number[];
}

/** Decode scene tokens for `prompt` and render them: pixels and truth. */
export function renderTokens(tokens: Int32Array, prompt: PromptSpec, size = 128): RenderedSample {
  const { scene, objectSlots, artifactSlots } = decodeScene(tokens, prompt.groups.length, size);
  const p = prompt.backgroundWord === undefined ? { ...prompt, background: scene.background } : prompt;
  const { rgb, truth } = renderScene(scene, p);
  return { prompt: p, tokens, scene, rgb, truth, objectSlots, artifactSlots };
}

/** Prompt tokens of a caption (throws a UserError outside the grammar). */
export const captionTokens = (caption: string): number[] => promptTokens(synthPrompt(caption));

/** Scene tokens as the compact text stored beside a kept sample (`generator.tokens`). */
export const tokensToText = (t: ArrayLike<number>): string => Array.from(t).join(' ');

export function tokensFromText(s: unknown, where: string): Int32Array {
  if (typeof s !== 'string') throw new UserError(`${where}: no scene tokens (generator.tokens); was it built with --generator synth?`);
  const parts = s.trim().split(/\s+/).map(Number);
  if (parts.some((x) => !Number.isInteger(x) || x < 0)) throw new UserError(`${where}: generator.tokens is not a list of token ids`);
  return Int32Array.from(parts);
}
