import { RahfConfig, YOUWEILIANG_HEATMAP_CHANNELS, YOUWEILIANG_SCORE_LINEAR, youweiliangScoreConv, DEFAULT_AUGMENTED_PROMPT_FORMAT } from './config';

/** Everything of a RahfConfig except the parsed tower configs (built from `vitJson` / `t5Json`). */
export type RahfPreset = Omit<RahfConfig, 'vit' | 't5'>;

export type PresetName = 'paper' | 'large384' | 'tiny';

/** HF ViTConfig fields of a ViT of the given size. */
function vitJson(hidden: number, layers: number, heads: number, mlp: number, image: number, patch = 16, channels = 3): Record<string, unknown> {
  return {
    model_type: 'vit',
    hidden_size: hidden,
    num_hidden_layers: layers,
    num_attention_heads: heads,
    intermediate_size: mlp,
    hidden_act: 'gelu',
    layer_norm_eps: 1e-12,
    image_size: image,
    patch_size: patch,
    num_channels: channels,
    qkv_bias: true,
    initializer_range: 0.02,
  };
}

/** HF T5Config fields (T5 v1.0 style: ReLU FFN, tied embeddings, d_model^-0.5 output scaling). */
function t5Json(d: number, dkv: number, ff: number, layers: number, heads: number, vocab: number): Record<string, unknown> {
  return {
    model_type: 't5',
    vocab_size: vocab,
    d_model: d,
    d_kv: dkv,
    d_ff: ff,
    num_layers: layers,
    num_decoder_layers: layers,
    num_heads: heads,
    relative_attention_num_buckets: 32,
    relative_attention_max_distance: 128,
    layer_norm_epsilon: 1e-6,
    feed_forward_proj: 'relu',
    tie_word_embeddings: true,
    scale_decoder_outputs: true,
    decoder_start_token_id: 0,
    eos_token_id: 1,
    pad_token_id: 0,
    initializer_factor: 1.0,
  };
}

const T5_BASE_VOCAB = 32128;

const common = {
  imageStem: [] as number[],
  imageStemSkip: false,
  captionPool: false,
  wordGrounding: false,
  heatmapStages: 4,
  augmentedPromptFormat: DEFAULT_AUGMENTED_PROMPT_FORMAT,
  imageMean: [0.5, 0.5, 0.5] as [number, number, number],
  imageStd: [0.5, 0.5, 0.5] as [number, number, number],
  maxTextTokens: 512,
  keywordMarkBias: 0,
};

/**
 * Model layouts by name.
 * - paper: the paper's text (sec. 4.1): ViT-B/16 at 224 and a T5-base encoder/decoder, image tokens
 *   without the ViT CLS token, score head dense 2048/1024/1; heatmap widths as youweiliang's. Pads are
 *   masked and kept out of the loss (outputs do not depend on the batch).
 * - large384: youweiliang/RichHF, the public trained checkpoint's layout: ViT-L/16 at 384 + T5-base,
 *   CLS fed to the encoder, no text mask, pads in the loss.
 * - tiny: a few-hundred-thousand-parameter model that trains in minutes on two CPU cores (the demo
 *   model): 64-wide two-layer towers on 128-pixel images in 8-pixel patches.
 */
export const PRESETS: Record<PresetName, RahfPreset> = {
  paper: {
    ...common,
    variant: 'multi_head',
    imageSize: 224,
    patchSize: 16,
    vitJson: vitJson(768, 12, 12, 3072, 224),
    t5Json: t5Json(768, 64, 3072, 12, 12, T5_BASE_VOCAB),
    heatmapChannels: [...YOUWEILIANG_HEATMAP_CHANNELS],
    scoreConv: youweiliangScoreConv(768),
    scoreLinear: [2048, 1024],
    keepClsInEncoder: false,
    maskTextPadding: true,
    lossIgnoresPadding: true,
  },
  large384: {
    ...common,
    variant: 'multi_head',
    imageSize: 384,
    patchSize: 16,
    vitJson: vitJson(1024, 24, 16, 4096, 384),
    t5Json: t5Json(768, 64, 3072, 12, 12, T5_BASE_VOCAB),
    heatmapChannels: [...YOUWEILIANG_HEATMAP_CHANNELS],
    scoreConv: youweiliangScoreConv(768),
    scoreLinear: [...YOUWEILIANG_SCORE_LINEAR],
    keepClsInEncoder: true,
    maskTextPadding: false,
    lossIgnoresPadding: false,
  },
  tiny: {
    ...common,
    variant: 'multi_head',
    imageSize: 128,
    // 8-pixel patches (a 16×16 token grid): with 16-pixel ones the randomly initialised 64-wide ViT learned the
    // synthetic world's defects far more slowly (5-minute runs, seed-7 test split: plausibility PLCC 0.06 vs 0.20,
    // misalignment CC 0.28 vs 0.36) for ~20 % fewer images per second.
    patchSize: 8,
    // A conv stem (three 3×3 stride-2 stages, rahf/stem.ts) in front of the ViT, which then embeds the 16² map of
    // 64-channel features one position per token: step for step it learned the world's defects far faster than
    // the linear 8-pixel patch embedding (40-minute run, seed-7 300-image test split at step 3500: plausibility
    // PLCC 0.31 against 0.00, implausibility CC 0.39 against 0.37; assets/rahf-tiny/TRAINING.md).
    imageStem: [16, 32, 64],
    // The stem's map, projected, is also added to the heads' feature map (rahf/stem.ts STEM_SKIP): a short path
    // from the heatmap and score losses to the convolutions. Step for step it learned far faster than the stem
    // alone (seed-7 300-image test split at step 3500: plausibility PLCC 0.43 against 0.31, overall 0.35 against
    // 0.22, implausibility CC 0.41 against 0.39; assets/rahf-tiny/TRAINING.md).
    imageStemSkip: true,
    // The caption's mean encoder output, projected, is added to the heads' feature map too (rahf/caption-pool.ts):
    // the score heads read the prompt side of the encoder, not only the image positions. Step for step it learned
    // faster (seed-7 300-image test split at steps 4500 / 5000: plausibility PLCC 0.46 / 0.48 against 0.42 / 0.43,
    // overall 0.42 / 0.47 against 0.42 / 0.41; the 20-minute run: every target metric higher on both test splits,
    // overall 0.55 against 0.41 on the 60-image one; assets/rahf-tiny/TRAINING.md).
    captionPool: true,
    vitJson: vitJson(64, 2, 4, 128, 16, 1, 64),
    t5Json: t5Json(64, 16, 128, 2, 4, T5_BASE_VOCAB),
    // Two ×2 stages (64² maps, upsampled to the image at prediction) and narrow heatmap heads: the heads
    // at full resolution were ~90% of a training step, and these maps learn within a 20-minute run.
    heatmapChannels: [16, 8, 8],
    heatmapStages: 2,
    // Not youweiliang's d>>k ladder: at d = 64 its last conv has ONE channel, and the channel RMS norm after it
    // turns a one-channel map into sign(x)·scale — zero gradient to everything below the score head.
    scoreConv: [64, 32, 16],
    scoreLinear: [64, 32],
    keepClsInEncoder: false,
    maskTextPadding: true,
    lossIgnoresPadding: true,
  },
};

export function presetNames(): PresetName[] {
  return Object.keys(PRESETS) as PresetName[];
}

/** A deep copy of a preset (callers may edit it). */
export function getPreset(name: string): RahfPreset {
  const p = (PRESETS as Record<string, RahfPreset>)[name];
  if (!p) throw new Error(`unknown preset "${name}" (expected ${presetNames().join(', ')})`);
  return JSON.parse(JSON.stringify(p)) as RahfPreset;
}
