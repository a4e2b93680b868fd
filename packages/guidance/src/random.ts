/**
 * A deterministic Gaussian generator: the same seed gives the same numbers on every machine and every run.
 *
 * Algorithm (stated so other implementations can reproduce it):
 *   - Bits: Philox4x32-10 (Salmon et al., "Parallel random numbers: as easy as 1, 2, 3", SC'11; the Random123
 *     reference, known-answer vectors in random.test.ts), a counter-based generator in 32-bit integer math.
 *     Key = [seed mod 2^32, floor(seed / 2^32)]; block b (b = 0, 1, …) encrypts counter [b mod 2^32,
 *     floor(b / 2^32), 0, 0] into four words w0..w3.
 *   - Uniforms, float64: k1 = (w0 >>> 5)·2^26 + (w1 >>> 6) and k2 likewise from (w2, w3) are 53-bit integers;
 *     u1 = (k1 + 1) / 2^53 in (0, 1], u2 = k2 / 2^53 in [0, 1).
 *   - Box–Muller in float64: r = sqrt(-2 ln u1), θ = 2π u2; block b yields normals 2b = r cos θ and
 *     2b + 1 = r sin θ, each rounded to float32.
 * The stream of a seed is that sequence; a generator hands out consecutive stretches of it, so drawing 3 then
 * 5 numbers gives the same 8 numbers as drawing 8. Integer steps are exact everywhere; the float64 ln/cos/sin
 * come from V8's own fdlibm port (not the platform libm), and the final rounding to float32 absorbs any
 * last-bit difference another implementation's libm might make.
 *
 * Counter-based rather than a sequential generator so that any position of a stream is computed directly
 * (`at`), e.g. image k of a batch without drawing images 0..k-1.
 */

const M0 = 0xd2511f53;
const M1 = 0xcd9e8d57;
const W0 = 0x9e3779b9;
const W1 = 0xbb67ae85;
const TWO_POW_32 = 4294967296;
const TWO_POW_53 = 9007199254740992;

/** High 32 bits of the 64-bit product of two uint32s (16-bit limbs keep every partial product exact in float64). */
function mulhi32(a: number, b: number): number {
  const al = a & 0xffff;
  const ah = a >>> 16;
  const bl = b & 0xffff;
  const bh = b >>> 16;
  const ll = al * bl;
  const lh = al * bh;
  const hl = ah * bl;
  const mid = (ll >>> 16) + (lh & 0xffff) + (hl & 0xffff);
  return (ah * bh + (lh >>> 16) + (hl >>> 16) + (mid >>> 16)) >>> 0;
}

/** Philox4x32 with `rounds` rounds (10 is the standard): counter [4] and key [2] uint32 words → 4 words. */
export function philox4x32(counter: ArrayLike<number>, key: ArrayLike<number>, rounds = 10, out = new Uint32Array(4)): Uint32Array {
  let c0 = counter[0] >>> 0;
  let c1 = counter[1] >>> 0;
  let c2 = counter[2] >>> 0;
  let c3 = counter[3] >>> 0;
  let k0 = key[0] >>> 0;
  let k1 = key[1] >>> 0;
  for (let r = 0; r < rounds; r++) {
    if (r > 0) {
      k0 = (k0 + W0) >>> 0;
      k1 = (k1 + W1) >>> 0;
    }
    const hi0 = mulhi32(M0, c0);
    const lo0 = Math.imul(M0, c0) >>> 0;
    const hi1 = mulhi32(M1, c2);
    const lo1 = Math.imul(M1, c2) >>> 0;
    c0 = (hi1 ^ c1 ^ k0) >>> 0;
    c1 = lo1;
    c2 = (hi0 ^ c3 ^ k1) >>> 0;
    c3 = lo0;
  }
  out[0] = c0;
  out[1] = c1;
  out[2] = c2;
  out[3] = c3;
  return out;
}

function seedKey(seed: number | bigint): [number, number] {
  const s = typeof seed === 'bigint' ? seed : Number.isSafeInteger(seed) && seed >= 0 ? BigInt(seed) : -1n;
  if (s < 0n || s >= 1n << 64n) {
    throw new RangeError(`seed ${String(seed)}: expected an integer in [0, 2^53) (or a bigint in [0, 2^64))`);
  }
  return [Number(s & 0xffffffffn), Number(s >> 32n)];
}

/** A stream of standard normal float32 numbers determined by a seed (algorithm above). */
export class GaussianGenerator {
  /** Normals handed out so far: the next call starts at this position of the stream. */
  position = 0;
  private readonly key: [number, number];
  private readonly words = new Uint32Array(4);
  private readonly ctr = new Uint32Array(4);

  constructor(readonly seed: number | bigint) {
    this.key = seedKey(seed);
  }

  /** The next `n` numbers of the stream. */
  normal(n: number): Float32Array {
    return this.fill(new Float32Array(n));
  }

  /** Fill `out` with the next `out.length` numbers of the stream. */
  fill(out: Float32Array): Float32Array {
    this.write(out, this.position);
    this.position += out.length;
    return out;
  }

  /** `n` numbers starting at `position` of the stream, leaving this generator's position alone. */
  at(position: number, n: number): Float32Array {
    const out = new Float32Array(n);
    this.write(out, position);
    return out;
  }

  private write(out: Float32Array, start: number): void {
    if (!Number.isSafeInteger(start) || start < 0 || start + out.length > TWO_POW_53) {
      throw new RangeError(`position ${start}: outside the stream`);
    }
    let i = 0;
    let pos = start;
    while (i < out.length) {
      const block = Math.floor(pos / 2);
      this.ctr[0] = block % TWO_POW_32;
      this.ctr[1] = Math.floor(block / TWO_POW_32);
      const w = philox4x32(this.ctr, this.key, 10, this.words);
      const k1 = (w[0] >>> 5) * 67108864 + (w[1] >>> 6);
      const k2 = (w[2] >>> 5) * 67108864 + (w[3] >>> 6);
      const r = Math.sqrt(-2 * Math.log((k1 + 1) / TWO_POW_53));
      const theta = (2 * Math.PI * k2) / TWO_POW_53;
      if (pos % 2 === 0) {
        out[i++] = r * Math.cos(theta);
        pos++;
        if (i >= out.length) break;
      }
      out[i++] = r * Math.sin(theta);
      pos++;
    }
  }
}
