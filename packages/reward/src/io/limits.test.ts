import { LimitError, UserError } from '../errors';
import { DEFAULT_LIMITS, checkLimit, getLimits, limitEnvName, limitOptionName, limitsWith, setLimits } from './limits';

afterEach(() => setLimits({ ...DEFAULT_LIMITS }));

test('each limit has an environment variable and a CLI option named after it', () => {
  expect(limitEnvName('maxImagePixels')).toBe('RAHF_MAX_IMAGE_PIXELS');
  expect(limitOptionName('maxImagePixels')).toBe('--max-image-pixels');
  expect(limitOptionName('maxPickleDepth')).toBe('--max-pickle-depth');
});

test('setLimits changes the process-wide limits; limitsWith overrides one call; bad values are user errors', () => {
  setLimits({ maxImagePixels: 123 });
  expect(getLimits().maxImagePixels).toBe(123);
  expect(limitsWith({ maxImagePixels: 7 }).maxImagePixels).toBe(7);
  expect(limitsWith({ maxImagePixels: undefined }).maxImagePixels).toBe(123);
  expect(() => setLimits({ maxImagePixels: 0 })).toThrow(UserError);
  expect(() => setLimits({ maxImagePixels: 1.5 })).toThrow('--max-image-pixels must be a positive integer, got 1.5');
});

test('checkLimit names the file, the value and how to raise the limit', () => {
  expect(() => checkLimit('a.png', 'the image size', 10, 'maxImagePixels', limitsWith({ maxImagePixels: 10 }))).not.toThrow();
  let err: unknown;
  try {
    checkLimit('a.png', 'the image size', 11, 'maxImagePixels', limitsWith({ maxImagePixels: 10 }));
  } catch (e) {
    err = e;
  }
  expect(err).toBeInstanceOf(LimitError);
  expect((err as LimitError).limit).toBe('maxImagePixels');
  expect((err as Error).message).toBe('a.png: the image size is 11, over the limit 10; raise it with --max-image-pixels or RAHF_MAX_IMAGE_PIXELS');
  // NaN never passes a limit.
  expect(() => checkLimit('a.png', 'x', NaN, 'maxImagePixels')).toThrow(LimitError);
});
