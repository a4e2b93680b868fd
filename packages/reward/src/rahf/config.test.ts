import * as path from 'path';
import { readJsonConfig } from '../models/hf-config';
import { parityDir } from '../parity/fixtures';
import {
  DEFAULT_AUGMENTED_PROMPT_FORMAT,
  heatmapSize,
  rahfConfigFromJson,
  rahfConfigToJson,
  taskPrompt,
  visualTokenCount,
  youweiliangScoreConv,
} from './config';

const multiDir = path.join(parityDir(), 'rahf', 'rahf_yl_multi');
const augDir = path.join(parityDir(), 'rahf', 'rahf_yl_aug');

describe('rahfConfigFromJson', () => {
  test('reads the youweiliang-style fixture config with its sub-config directories', () => {
    const c = rahfConfigFromJson(readJsonConfig(multiDir), multiDir);
    expect(c.variant).toBe('multi_head');
    expect([c.imageSize, c.patchSize]).toEqual([64, 16]);
    expect(c.vit.hidden_size).toBe(64);
    expect(c.t5.d_model).toBe(128);
    expect(c.heatmapChannels).toEqual([48, 24, 12]);
    expect(c.scoreLinear).toEqual([512, 128]);
    expect(c.scoreConv).toEqual([128, 64, 32, 16, 8, 2]); // d, d/2, d/4, d/8, d/16, d/64
    // youweiliang's behaviour: CLS into the encoder, no text mask, pads counted in the loss.
    expect([c.keepClsInEncoder, c.maskTextPadding, c.lossIgnoresPadding]).toEqual([true, false, false]);
    expect(visualTokenCount(c)).toBe(17);
    expect(heatmapSize(c)).toBe(64);
    expect(rahfConfigFromJson(readJsonConfig(augDir), augDir).variant).toBe('augmented_prompt');
  });

  test('our saved form is self-contained and reads back to the same config', () => {
    const c = rahfConfigFromJson(readJsonConfig(multiDir), multiDir);
    const json = JSON.parse(JSON.stringify(rahfConfigToJson(c)));
    expect(json.model_type).toBe('rahf');
    expect(typeof json.vit).toBe('object');
    const back = rahfConfigFromJson(json, '/nonexistent');
    expect(back).toEqual(c);
  });

  test('rejects what it cannot run, with one line naming the field', () => {
    const base = readJsonConfig(multiDir);
    expect(() => rahfConfigFromJson({ ...base, model_type: 'vit' }, multiDir)).toThrow(/model_type "vit" is not "rahf"/);
    expect(() => rahfConfigFromJson({ ...base, heatmap_channels: [4, 4] }, multiDir)).toThrow(/heatmap_channels/);
    expect(() => rahfConfigFromJson({ ...base, image_size: 70 }, multiDir)).toThrow(/not a multiple of patch_size/);
    expect(() => rahfConfigFromJson({ ...base, t5: '../nowhere' }, multiDir)).toThrow(/nowhere.*config\.json/);
    expect(() => rahfConfigFromJson({ ...base, multi_heads: 'yes' }, multiDir)).toThrow(/multi_heads/);
    expect(() => rahfConfigFromJson({ ...base, heatmap_stages: 5 }, multiDir)).toThrow(/heatmap_stages must be an integer from 1 to 4, got 5/);
  });

  test('heatmap_stages: youweiliang default 4 (map at the image size); fewer stages halve the map each', () => {
    const base = readJsonConfig(multiDir);
    expect(rahfConfigFromJson(base, multiDir).heatmapStages).toBe(4);
    const c = rahfConfigFromJson({ ...base, heatmap_stages: 3 }, multiDir);
    expect(c.heatmapStages).toBe(3);
    expect(heatmapSize(c)).toBe(32); // 4×4 patch grid · 2³
    expect(rahfConfigToJson(c).heatmap_stages).toBe(3);
  });

  test('image_stem: none by default; with k stages the ViT must patchify the (image/2^k)² map of the last width', () => {
    const base = rahfConfigToJson(rahfConfigFromJson(readJsonConfig(multiDir), multiDir)) as Record<string, any>;
    expect(rahfConfigFromJson(base, '/nonexistent').imageStem).toEqual([]);
    expect(base.image_stem).toBeUndefined();
    // 64-pixel images in 16-pixel patches; two stride-2 stages leave 16² maps of 12 channels, patchified by 4.
    const vit = { ...base.vit, image_size: 16, patch_size: 4, num_channels: 12 };
    const c = rahfConfigFromJson({ ...base, image_stem: [6, 12], vit }, '/nonexistent');
    expect(c.imageStem).toEqual([6, 12]);
    expect(visualTokenCount(c)).toBe(17);
    expect(rahfConfigFromJson(JSON.parse(JSON.stringify(rahfConfigToJson(c))), '/nonexistent')).toEqual(c);
    const bad = (stem: unknown, v: Record<string, unknown>) => () => rahfConfigFromJson({ ...base, image_stem: stem, vit: { ...vit, ...v } }, '/nonexistent');
    expect(bad([6, 12], { patch_size: 16 })).toThrow(/patch_size 16 differs from the ViT's patch_size 16 × 2\^2 \(image_stem\)/);
    expect(bad([6, 12], { image_size: 64, patch_size: 4 })).toThrow(/the ViT's image_size must be 16, not 64/);
    expect(bad([6, 12], { num_channels: 3 })).toThrow(/must take 12 channels \(the last image_stem width\), not 3/);
    expect(bad([6, 0], {})).toThrow(/config.image_stem: expected a list of positive integers/);
  });

  test('image_stem_skip: off unless given; needs a stem whose map the ViT embeds one position per token', () => {
    const base = rahfConfigToJson(rahfConfigFromJson(readJsonConfig(multiDir), multiDir)) as Record<string, any>;
    const vit = { ...base.vit, image_size: 16, patch_size: 4, num_channels: 12 };
    expect(rahfConfigFromJson({ ...base, image_stem: [6, 12], vit }, '/nonexistent').imageStemSkip).toBe(false);
    // 16-pixel patches after two stride-2 stages: 64² → 16² map, ViT patch 4 → a 4×4 token grid ≠ the 16² map.
    expect(() => rahfConfigFromJson({ ...base, image_stem: [6, 12], image_stem_skip: true, vit }, '/nonexistent')).toThrow(
      'config: image_stem_skip needs an image_stem whose map the ViT embeds one position per token (ViT patch_size 1)',
    );
    expect(() => rahfConfigFromJson({ ...base, image_stem_skip: true }, '/nonexistent')).toThrow(/image_stem_skip needs an image_stem/);
    // Two stages and 4-pixel patches: the 16² map of 12 channels is the token grid.
    const c = rahfConfigFromJson({ ...base, patch_size: 4, image_stem: [6, 12], image_stem_skip: true, vit: { ...vit, patch_size: 1 } }, '/nonexistent');
    expect(c.imageStemSkip).toBe(true);
    expect(rahfConfigToJson(c).image_stem_skip).toBe(true);
    expect(rahfConfigFromJson(JSON.parse(JSON.stringify(rahfConfigToJson(c))), '/nonexistent')).toEqual(c);
  });

  // Optional boolean parts of the model (rahf/caption-pool.ts, rahf/word-grounding.ts).
  test.each([
    ['caption_pool', 'captionPool'],
    ['word_grounding', 'wordGrounding'],
  ] as const)('%s: off unless given, saved and read back, non-booleans refused', (key, field) => {
    const base = rahfConfigToJson(rahfConfigFromJson(readJsonConfig(multiDir), multiDir)) as Record<string, any>;
    expect(rahfConfigFromJson(base, '/nonexistent')[field]).toBe(false);
    expect(rahfConfigToJson(rahfConfigFromJson(base, '/nonexistent'))).not.toHaveProperty(key);
    const c = rahfConfigFromJson({ ...base, [key]: true }, '/nonexistent');
    expect(c[field]).toBe(true);
    expect(rahfConfigFromJson(JSON.parse(JSON.stringify(rahfConfigToJson(c))), '/nonexistent')).toEqual(c);
    for (const bad of ['yes', 1]) expect(() => rahfConfigFromJson({ ...base, [key]: bad }, '/nonexistent')).toThrow(new RegExp(key));
  });

  test('keyword_mark_bias: 0 (plain greedy decoding) by default, saved and read back, non-numbers refused', () => {
    const base = readJsonConfig(multiDir);
    expect(rahfConfigFromJson(base, multiDir).keywordMarkBias).toBe(0);
    const c = rahfConfigFromJson({ ...base, keyword_mark_bias: 1.5 }, multiDir);
    expect(c.keywordMarkBias).toBe(1.5);
    expect(rahfConfigFromJson(JSON.parse(JSON.stringify(rahfConfigToJson(c))), '/nonexistent')).toEqual(c);
    expect(() => rahfConfigFromJson({ ...base, keyword_mark_bias: 'high' }, multiDir)).toThrow(/keyword_mark_bias: expected a number/);
  });
});

describe('taskPrompt', () => {
  test('builds youweiliang task strings from the fixture format', () => {
    expect(taskPrompt(DEFAULT_AUGMENTED_PROMPT_FORMAT, 'SCORE', 'plausibility', 'a cat')).toBe(
      '<output> SCORE: plausibility </output> a cat',
    );
    expect(taskPrompt('{kind}/{type}: {caption}', 'HEATMAP', 'misalignment', 'x')).toBe('HEATMAP/misalignment: x');
  });
});

test('youweiliangScoreConv halves the width four times then divides by 64', () => {
  expect(youweiliangScoreConv(768)).toEqual([768, 384, 192, 96, 48, 12]);
});
