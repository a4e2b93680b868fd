import sharp from 'sharp';

/**
 * One image of a batch of NHWC pixels in [0, 1] (the decoders' output) as PNG bytes, through sharp. Values are
 * rounded to 8 bits as diffusers' numpy_to_pil does ((x · 255).round()).
 */
export async function encodePng(pixels: Float32Array, shape: readonly [number, number, number, number], index = 0): Promise<Buffer> {
  const [b, h, w, c] = shape;
  if (index < 0 || index >= b) throw new RangeError(`image ${index} of a batch of ${b}`);
  if (c !== 3 && c !== 4 && c !== 1) throw new RangeError(`${c} channels: expected 1, 3 or 4`);
  const n = h * w * c;
  const bytes = Buffer.alloc(n);
  for (let i = 0; i < n; i++) bytes[i] = Math.round(Math.min(1, Math.max(0, pixels[index * n + i])) * 255);
  return sharp(bytes, { raw: { width: w, height: h, channels: c as 1 | 3 | 4 } }).png().toBuffer();
}
