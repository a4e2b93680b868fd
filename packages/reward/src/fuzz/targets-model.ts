import * as fs from 'fs';
import * as path from 'path';
import fc from 'fast-check';
import sharp from 'sharp';
import { BUNDLED_TOKENIZER } from '../bundled';
import { loadImage, RgbImage } from '../image';
import { checkParams, loadParts, ModelParts } from '../rahf/checkpoint';
import { rahfConfigFromJson } from '../rahf/config';
import { rahfParamShapes } from '../rahf/init';
import { Tokenizer } from '../tokenizer';
import { numel } from '../io/tensors';
import { Files, RawTensor, elementBytes, safetensorsBytes, utf8 } from './encode';
import { Target, digestBytes } from './target';

/** Fuzz targets of the model inputs: tokenizer.json, images, checkpoint folders. */

// ---- tokenizer.json --------------------------------------------------------------------------------

interface TokSpec {
  kind: 'unigram' | 'wordlevel';
  pieces: string[];
  pad: boolean;
}

function tokenizerJson(s: TokSpec): Record<string, unknown> {
  const specials = ['<pad>', '</s>', '<unk>'];
  const added = specials.map((content, id) => ({ id, content, single_word: false, lstrip: false, rstrip: false, normalized: false, special: true }));
  const post = {
    type: 'TemplateProcessing',
    single: [{ Sequence: { id: 'A', type_id: 0 } }, { SpecialToken: { id: '</s>', type_id: 0 } }],
    pair: [{ Sequence: { id: 'A', type_id: 0 } }, { Sequence: { id: 'B', type_id: 1 } }],
    special_tokens: { '</s>': { id: '</s>', ids: [1], tokens: ['</s>'] } },
  };
  const padding = s.pad ? { strategy: 'BatchLongest', direction: 'Right', pad_to_multiple_of: null, pad_id: 0, pad_type_id: 0, pad_token: '<pad>' } : null;
  if (s.kind === 'unigram') {
    const vocab = [...specials.map((t) => [t, 0]), ...s.pieces.map((p, i) => [`▁${p}`, -1 - i / 10]), ...'abcdefghijklmnopqrstuvwxyz'.split('').map((c) => [c, -5])];
    return {
      version: '1.0', truncation: null, padding, added_tokens: added, normalizer: null,
      pre_tokenizer: { type: 'Metaspace', replacement: '▁', prepend_scheme: 'always', split: true },
      post_processor: post,
      decoder: { type: 'Metaspace', replacement: '▁', prepend_scheme: 'always', split: true },
      model: { type: 'Unigram', unk_id: 2, vocab, byte_fallback: false },
    };
  }
  const vocab: Record<string, number> = {};
  [...specials, ...s.pieces].forEach((t) => (vocab[t] = vocab[t] ?? Object.keys(vocab).length));
  return {
    version: '1.0', truncation: null, padding, added_tokens: added, normalizer: { type: 'Lowercase' },
    pre_tokenizer: { type: 'Whitespace' }, post_processor: post, decoder: null,
    model: { type: 'WordLevel', vocab, unk_token: '<unk>' },
  };
}

const PROBES = ['a red cat', 'two dogs in the snow', '', 'zzz unknownword'];

export const tokenizerTarget: Target<TokSpec, Tokenizer> = {
  name: 'tokenizer.json',
  json: true,
  integrity: false,
  spec: fc.record({
    // (WordLevel is refused at the first unknown word: the library gives it no id; tokenizer.ts says so.)
    kind: fc.constant('unigram' as const),
    pieces: fc.uniqueArray(fc.stringMatching(/^[a-z]{1,6}$/), { minLength: 1, maxLength: 30 }),
    pad: fc.boolean(),
  }),
  build: async (s) => ({ files: { 'tokenizer.json': utf8(JSON.stringify(tokenizerJson(s), null, 1)) }, main: 'tokenizer.json' }),
  parse: async (dir, main) => Tokenizer.fromFile(path.join(dir, main)),
  summary: (t) => `${t.vocabSize}|${t.padId}|${t.eosId}|${PROBES.map((p) => t.encode(p).join(',')).join('|')}`,
  check: (t) => {
    if (!(Number.isInteger(t.padId) && t.padId >= 0)) return `pad id ${t.padId}`;
    for (const p of PROBES) {
      // Every id a token of the vocabulary (the generated ones are contiguous); unknown pieces take unk_id,
      // whichever valid index the file names.
      for (const id of t.encode(p)) if (!(Number.isInteger(id) && id >= 0 && id < t.vocabSize)) return `"${p}" encodes to id ${id} (vocabulary ${t.vocabSize})`;
      t.encodeBatch([p, 'a'], { maxLength: 8 });
    }
    return undefined;
  },
};

// ---- images ------------------------------------------------------------------------------------------

interface ImageSpec {
  format: 'png' | 'jpeg' | 'webp' | 'gif' | 'tiff';
  w: number;
  h: number;
  channels: 1 | 2 | 3 | 4;
  seed: number;
}

export const imageTarget: Target<ImageSpec, RgbImage> = {
  name: 'images',
  json: false,
  integrity: false,
  spec: fc.record({
    format: fc.constantFrom('png' as const, 'jpeg' as const, 'webp' as const, 'gif' as const, 'tiff' as const),
    w: fc.integer({ min: 1, max: 40 }),
    h: fc.integer({ min: 1, max: 40 }),
    channels: fc.constantFrom(1 as const, 2 as const, 3 as const, 4 as const),
    seed: fc.nat(255),
  }),
  build: async (s) => {
    const raw = Buffer.from(Uint8Array.from({ length: s.w * s.h * s.channels }, (_, i) => (s.seed + i * 37) & 0xff));
    const img = sharp(raw, { raw: { width: s.w, height: s.h, channels: s.channels } });
    const bytes = await img.toFormat(s.format).toBuffer();
    return { files: { [`image.${s.format}`]: new Uint8Array(bytes) }, main: `image.${s.format}` };
  },
  parse: async (dir, main) => loadImage(path.join(dir, main)),
  summary: (im) => `${im.width}x${im.height}|${digestBytes(im.data)}`,
  check: (im) => {
    if (im.data.length !== im.width * im.height * 3) return `${im.data.length} values for ${im.width}x${im.height}`;
    for (const v of im.data) if (!(v >= 0 && v <= 1)) return `pixel value ${v}`;
    return undefined;
  },
};

// ---- checkpoint folders ------------------------------------------------------------------------------

interface CkptSpec {
  vitLayers: number;
  t5Layers: number;
  decoderLayers: number;
  heads: number;
  patch: 4 | 8;
  seed: number;
}

function ckptConfig(s: CkptSpec, vocab: number): Record<string, unknown> {
  const d = 8 * s.heads;
  return {
    model_type: 'rahf', variant: 'multi_head', image_size: 16, patch_size: s.patch,
    heatmap_channels: [4, 4, 4], heatmap_stages: 1, score_conv: [4], score_linear: [4],
    keep_cls_in_encoder: false, mask_text_padding: true, image_mean: [0.5, 0.5, 0.5], image_std: [0.5, 0.5, 0.5], max_text_tokens: 32,
    vit: { model_type: 'vit', hidden_size: d, num_hidden_layers: s.vitLayers, num_attention_heads: s.heads, intermediate_size: 16, image_size: 16, patch_size: s.patch, num_channels: 3, qkv_bias: true },
    t5: { model_type: 't5', vocab_size: vocab, d_model: d, d_kv: 8, d_ff: 16, num_layers: s.t5Layers, num_decoder_layers: s.decoderLayers, num_heads: s.heads, relative_attention_num_buckets: 8, relative_attention_max_distance: 16, feed_forward_proj: 'relu', tie_word_embeddings: true },
  };
}

let tokenizerText: string | undefined;

export const checkpointTarget: Target<CkptSpec, ModelParts> = {
  name: 'checkpoint folders',
  json: true,
  integrity: false,
  spec: fc.record({
    vitLayers: fc.integer({ min: 1, max: 2 }),
    t5Layers: fc.integer({ min: 1, max: 2 }),
    decoderLayers: fc.integer({ min: 1, max: 2 }),
    heads: fc.integer({ min: 1, max: 2 }),
    patch: fc.constantFrom(4 as const, 8 as const),
    seed: fc.integer({ min: -50, max: 50 }),
  }),
  build: async (s) => {
    tokenizerText ??= fs.readFileSync(BUNDLED_TOKENIZER, 'utf8');
    const vocab = Math.ceil(Tokenizer.fromFile(BUNDLED_TOKENIZER).vocabSize / 128) * 128;
    const json = ckptConfig(s, vocab);
    const config = rahfConfigFromJson(json, '.');
    const tensors: RawTensor[] = rahfParamShapes(config).map(([name, shape], i) => ({
      name,
      dtype: 'F32',
      shape,
      bytes: elementBytes('F32', Array.from({ length: numel(shape) }, (_, j) => ((s.seed + i + j * 3) % 9) - 4)),
    }));
    const files: Files = {
      'config.json': utf8(JSON.stringify(json, null, 1)),
      'model.safetensors': safetensorsBytes(tensors),
      'tokenizer.json': utf8(tokenizerText),
    };
    return { files, main: '.' };
  },
  parse: async (dir) => loadParts(dir),
  summary: (p) => {
    const s = `${JSON.stringify(p.config)}|${[...p.params.tensors].map(([k, v]) => `${k}:${v.shape}`).join(',')}`;
    return s;
  },
  check: (p) => {
    try {
      checkParams(p.config, p.params);
    } catch (e) {
      return (e as Error).message;
    }
    if (!p.config.imageStd.every((v) => v > 0)) return `image_std ${p.config.imageStd}`;
    return undefined;
  },
  dispose: (p) => p.params.dispose(),
};
