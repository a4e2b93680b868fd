import * as fs from 'fs';
import * as os from 'os';
import * as path from 'path';
import { UserError } from '@richhf/reward';
import { HostTensor, readSafetensors, writeSafetensors } from '@richhf/reward/io';
import { readVaeCheckpoint } from './checkpoint';
import { OrtDecoder } from './ort-decoder';

const FIX = path.resolve(__dirname, '../../test/fixtures/parity/diffusers');
const KL = path.join(FIX, 'vae_kl');
const TAESD = path.join(FIX, 'taesd');

let tmp: string;
beforeAll(() => {
  tmp = fs.mkdtempSync(path.join(os.tmpdir(), 'guidance-ckpt-'));
});
afterAll(() => fs.rmSync(tmp, { recursive: true, force: true }));

/** A VAE folder in tmp: the KL fixture's config (edited) and weights (edited). */
function folder(name: string, edit: { config?: (c: Record<string, unknown>) => void; tensors?: (t: Map<string, HostTensor>) => void; noWeights?: boolean } = {}): string {
  const dir = path.join(tmp, name);
  fs.mkdirSync(dir, { recursive: true });
  const cfg = JSON.parse(fs.readFileSync(path.join(KL, 'config.json'), 'utf8'));
  edit.config?.(cfg);
  fs.writeFileSync(path.join(dir, 'config.json'), JSON.stringify(cfg));
  if (!edit.noWeights) {
    const t = readSafetensors(path.join(KL, 'diffusion_pytorch_model.safetensors'));
    edit.tensors?.(t);
    writeSafetensors(path.join(dir, 'diffusion_pytorch_model.safetensors'), t);
  }
  return dir;
}

/** The UserError `p` rejects with; its message is one line. */
async function userError(p: Promise<unknown>): Promise<string> {
  const e = await p.then(
    () => undefined,
    (err: unknown) => err,
  );
  expect(e).toBeInstanceOf(UserError);
  const msg = (e as Error).message;
  expect(msg).not.toContain('\n');
  return msg;
}

test('reads both fixture VAEs with their config', async () => {
  const tiny = await readVaeCheckpoint(TAESD);
  expect(tiny.arch).toMatchObject({ kind: 'AutoencoderTiny', latentChannels: 4, scalingFactor: 1, upscale: 8, downscale: 8 });
  const kl = await readVaeCheckpoint(KL);
  expect(kl.arch).toMatchObject({ kind: 'AutoencoderKL', latentChannels: 4, scalingFactor: 0.18215, shiftFactor: 0, upscale: 2 });
  expect(kl.weightsFile).toBe(path.join(KL, 'diffusion_pytorch_model.safetensors'));
});

test('finds vae/ inside a pipeline folder', async () => {
  const root = path.join(tmp, 'pipeline');
  fs.mkdirSync(path.join(root, 'unet'), { recursive: true });
  fs.cpSync(KL, path.join(root, 'vae'), { recursive: true });
  expect((await readVaeCheckpoint(root)).dir).toBe(path.join(root, 'vae'));
  expect((await readVaeCheckpoint(root, { subfolder: 'vae' })).arch.kind).toBe('AutoencoderKL');
});

test('refuses what is not a VAE folder, naming the file', async () => {
  const empty = path.join(tmp, 'empty');
  fs.mkdirSync(empty);
  expect(await userError(readVaeCheckpoint(empty))).toMatch(new RegExp(`^${empty}: no config.json`));
  expect(await userError(readVaeCheckpoint(path.join(KL, 'config.json')))).toMatch(/config.json: is a file/);
  const unet = folder('unet', { config: (c) => (c._class_name = 'UNet2DConditionModel') });
  expect(await userError(readVaeCheckpoint(unet))).toBe(`${path.join(unet, 'config.json')}: _class_name "UNet2DConditionModel" is not a supported VAE (AutoencoderTiny, AutoencoderKL)`);
  const broken = path.join(tmp, 'broken');
  fs.mkdirSync(broken);
  fs.writeFileSync(path.join(broken, 'config.json'), '{"_class_name": "AutoencoderKL",');
  expect(await userError(readVaeCheckpoint(broken))).toMatch(/config.json: not valid JSON/);
  const badKey = folder('bad-key', { config: (c) => (c.block_out_channels = 'wide') });
  expect(await userError(readVaeCheckpoint(badKey))).toMatch(/config.json: "block_out_channels" must be a non-empty list of positive integers, got "wide"/);
  const groups = folder('groups', { config: (c) => (c.norm_num_groups = 24) });
  expect(await userError(readVaeCheckpoint(groups))).toMatch(/norm_num_groups 24 does not divide block_out_channels entry 32/);
  const act = folder('act', { config: (c) => (c.act_fn = 'mish') });
  expect(await userError(readVaeCheckpoint(act))).toMatch(/act_fn "mish" is not supported/);
});

test('refuses missing or misshapen weights before building anything', async () => {
  const none = folder('no-weights', { noWeights: true });
  expect(await userError(readVaeCheckpoint(none))).toMatch(new RegExp(`^${none}: no diffusion_pytorch_model.safetensors`));
  const missing = folder('missing', { tensors: (t) => t.delete('decoder.conv_out.weight') });
  const file = path.join(missing, 'diffusion_pytorch_model.safetensors');
  expect(await userError(readVaeCheckpoint(missing))).toBe(`${file}: missing tensor "decoder.conv_out.weight" (expected shape [3,32,3,3]); the checkpoint does not match its config.json`);
  // A config promising more channels than the weights have.
  const wide = folder('wide', { config: (c) => (c.block_out_channels = [32, 128]) });
  expect(await userError(readVaeCheckpoint(wide))).toMatch(/decoder.conv_in.weight" has shape \[64,4,3,3\], expected \[128,4,3,3\] from config.json/);
  const torn = path.join(tmp, 'torn');
  fs.mkdirSync(torn);
  fs.copyFileSync(path.join(KL, 'config.json'), path.join(torn, 'config.json'));
  fs.writeFileSync(path.join(torn, 'diffusion_pytorch_model.safetensors'), Buffer.from([1, 2, 3]));
  expect(await userError(readVaeCheckpoint(torn))).toMatch(new RegExp(`^${path.join(torn, 'diffusion_pytorch_model.safetensors')}: `));
});

test('a hub id that is not cached fails offline with one line', async () => {
  const msg = await userError(readVaeCheckpoint('nobody-here/no-such-vae', { offline: true, cacheDir: path.join(tmp, 'hub') }));
  expect(msg).toMatch(/nobody-here\/no-such-vae@main: not found in the Hugging Face cache/);
});

test('renames diffusers < 0.14 attention weights (query/key/value/proj_attn, 1×1 convs)', async () => {
  const legacy = folder('legacy', {
    tensors: (t) => {
      const a = 'decoder.mid_block.attentions.0';
      for (const [from, to] of [['to_q', 'query'], ['to_k', 'key'], ['to_v', 'value'], ['to_out.0', 'proj_attn']]) {
        const w = t.get(`${a}.${from}.weight`)!;
        t.set(`${a}.${to}.weight`, { ...w, shape: [...w.shape, 1, 1] });
        t.set(`${a}.${to}.bias`, t.get(`${a}.${from}.bias`)!);
        t.delete(`${a}.${from}.weight`);
        t.delete(`${a}.${from}.bias`);
      }
    },
  });
  const latents = Float32Array.from({ length: 4 * 8 * 8 }, (_, i) => Math.sin(i));
  const a = new OrtDecoder(await readVaeCheckpoint(legacy));
  const b = new OrtDecoder(await readVaeCheckpoint(KL));
  try {
    expect(await a.decodeDiffusers(latents, [1, 4, 8, 8])).toEqual(await b.decodeDiffusers(latents, [1, 4, 8, 8]));
  } finally {
    await a.dispose();
    await b.dispose();
  }
});
