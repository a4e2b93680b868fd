import * as path from 'path';
import { readSafetensors } from '../io/safetensors';
import { readJsonConfig } from '../models/hf-config';
import { parityDir } from '../parity/fixtures';
import { rahfConfigFromJson } from './config';
import { inferYouweiliangConfig } from './youweiliang';

const rahf = path.join(parityDir(), 'rahf');

test.each(['rahf_yl_multi', 'rahf_yl_aug'])('%s: the layout read off the tensor shapes matches its config', (name) => {
  const dir = path.join(rahf, name);
  const weights = readSafetensors(path.join(dir, 'model.safetensors'));
  const inferred = rahfConfigFromJson(inferYouweiliangConfig(weights, name), dir);
  const actual = rahfConfigFromJson(readJsonConfig(dir), dir);
  // The ViT head count is not in any tensor shape: the inference assumes google/vit-*'s head width 64,
  // while this tiny fixture uses 4 heads of 16.
  expect(inferred.vit).toEqual({ ...actual.vit, num_attention_heads: 1 });
  expect(inferred.t5).toEqual(actual.t5);
  for (const k of ['variant', 'imageSize', 'patchSize', 'heatmapChannels', 'scoreConv', 'scoreLinear', 'keepClsInEncoder'] as const) {
    expect(inferred[k]).toEqual(actual[k]);
  }
});

test('a file that is not a RAHF checkpoint is refused with the missing tensor named', () => {
  const vit = readSafetensors(path.join(parityDir(), 'models', 'vit_tiny', 'model.safetensors'));
  expect(() => inferYouweiliangConfig(vit, 'vit.safetensors')).toThrow(/vit\.safetensors: not a youweiliang\/RichHF RAHF checkpoint \(no "vit\.embeddings\.cls_token"\)/);
});
