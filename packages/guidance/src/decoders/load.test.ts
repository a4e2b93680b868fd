import * as path from 'path';
import { UserError } from '@richhf/reward';
import { AutoencoderKL, AutoencoderTiny } from './autoencoder';
import { loadDecoder, loadEncoder } from './load';
import { OrtDecoder, OrtEncoder } from './ort-decoder';

const FIX = path.resolve(__dirname, '../../test/fixtures/parity/diffusers');

test('loadDecoder picks the class from config.json and the engine from the options', async () => {
  const a = await loadDecoder(path.join(FIX, 'taesd'));
  const b = await loadDecoder(path.join(FIX, 'vae_kl'), { engine: 'tfjs' });
  const c = await loadDecoder(path.join(FIX, 'taesd'), { engine: 'tfjs' });
  try {
    expect(a).toBeInstanceOf(OrtDecoder);
    expect(b).toBeInstanceOf(AutoencoderKL);
    expect(c).toBeInstanceOf(AutoencoderTiny);
    expect([a.latentChannels, a.scalingFactor, a.upscale]).toEqual([4, 1, 8]);
    expect([b.latentChannels, b.scalingFactor, b.upscale]).toEqual([4, 0.18215, 2]);
    // Both engines decode the same pixels.
    const latents = Float32Array.from({ length: 4 * 4 * 4 }, (_, i) => Math.cos(i));
    const pa = await a.decode(latents, [1, 4, 4, 4]);
    const pc = await c.decode(latents, [1, 4, 4, 4]);
    expect(pa.length).toBe(32 * 32 * 3);
    for (let i = 0; i < pa.length; i++) expect(Math.abs(pa[i] - pc[i])).toBeLessThan(1e-4);
  } finally {
    await Promise.all([a.dispose(), b.dispose(), c.dispose()]);
  }
});

test('loadEncoder on both engines; bad options are one-line UserErrors', async () => {
  const e = await loadEncoder(path.join(FIX, 'vae_kl'));
  expect(e).toBeInstanceOf(OrtEncoder);
  expect(e.downscale).toBe(2);
  await e.dispose();
  const t = await loadEncoder(path.join(FIX, 'vae_kl'), { engine: 'tfjs' });
  expect(t).toBeInstanceOf(AutoencoderKL);
  await t.dispose();
  await expect(loadDecoder(path.join(FIX, 'taesd'), { engine: 'torch' as 'ort' })).rejects.toThrow(new UserError('engine "torch" is not one of ort, tfjs'));
  await expect(loadDecoder(path.join(FIX, 'taesd'), { threads: 1.5 })).rejects.toThrow(UserError);
  await expect(loadDecoder(path.join(FIX, 'sd_tiny'))).rejects.toThrow(/sd_tiny: no config.json/);
});
