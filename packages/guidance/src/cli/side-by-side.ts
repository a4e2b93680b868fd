import sharp from 'sharp';

/**
 * Images of one batch index from several NHWC [0, 1] batches of the same size, left to right with a white
 * gap, as one PNG (the `--compare` picture: unguided | guided).
 */
export async function sideBySidePng(batches: readonly Float32Array[], shape: readonly [number, number, number, number], index: number, gap = 4): Promise<Buffer> {
  const [, h, w] = shape;
  const W = batches.length * w + (batches.length - 1) * gap;
  const out = Buffer.alloc(h * W * 3, 255);
  batches.forEach((px, k) => {
    const base = index * h * w * 3;
    for (let y = 0; y < h; y++) {
      for (let x = 0; x < w; x++) {
        for (let c = 0; c < 3; c++) out[(y * W + k * (w + gap) + x) * 3 + c] = Math.round(Math.min(1, Math.max(0, px[base + (y * w + x) * 3 + c])) * 255);
      }
    }
  });
  return sharp(out, { raw: { width: W, height: h, channels: 3 } }).png().toBuffer();
}
