import { float16ToFloat32, float32ToFloat16, fromFloat16Bits, toFloat16Bits } from './float16';

test('known binary16 encodings, round to nearest even, overflow and subnormals', () => {
  const cases: Array<[number, number]> = [
    [0, 0x0000],
    [-0, 0x8000],
    [1, 0x3c00],
    [-2, 0xc000],
    [0.1, 0x2e66],
    [1 / 3, 0x3555],
    [65504, 0x7bff],
    [65519, 0x7bff], // below the midpoint to 65536
    [65520, 0x7c00], // the midpoint rounds to even: infinity
    [2 ** -24, 0x0001],
    [2 ** -25, 0x0000], // a tie with 0: even
    [1.5 * 2 ** -25, 0x0001],
    [2 ** -14, 0x0400],
    [1 + 2 ** -11, 0x3c00], // tie: down to even
    [1 + 3 * 2 ** -11, 0x3c02], // tie: up to even
    [Infinity, 0x7c00],
    [-Infinity, 0xfc00],
  ];
  for (const [x, bits] of cases) expect([x, toFloat16Bits(x)]).toEqual([x, bits]);
  expect(Number.isNaN(fromFloat16Bits(toFloat16Bits(NaN)))).toBe(true);
});

test('every finite binary16 value survives the round trip', () => {
  const all = new Uint16Array(65536).map((_, i) => i);
  const back = float32ToFloat16(float16ToFloat32(all));
  for (let i = 0; i < 65536; i++) {
    const nan = (i & 0x7c00) === 0x7c00 && (i & 0x3ff) !== 0;
    if (!nan && back[i] !== i) throw new Error(`0x${i.toString(16)} came back as 0x${back[i].toString(16)}`);
  }
});
