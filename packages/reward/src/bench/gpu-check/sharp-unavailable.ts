/**
 * Stands in for `sharp` inside the GPU check bundle (scripts/build-gpu-check.sh aliases it here): the
 * GPU machine has no sharp binaries and the check never decodes or encodes images, but src/image.ts
 * and src/heatmap-image.ts import sharp at load time. Any call fails loudly.
 */
function sharpUnavailable(): never {
  throw new Error('sharp is not part of the GPU check bundle (image decoding is not checked there)');
}
export default sharpUnavailable;
