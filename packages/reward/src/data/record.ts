/**
 * One RichHF-18K example, decoded. Field names follow the release's tf.train.Example keys
 * (google-research `richhf_18k/`): scores are floats where higher is better; maps are 8-bit single-channel
 * images (512×512 in the release); `promptMisalignmentLabel` holds one 0/1 per prompt word, 0 = misaligned.
 */
export interface RichHFRecord {
  /** `filename` bytes as stored; its stem is the Pick-a-Pic image uid. */
  filename: string;
  aestheticsScore: number;
  artifactScore: number;
  misalignmentScore: number;
  overallScore: number;
  artifactMap: GrayMap;
  misalignmentMap: GrayMap;
  /** Space-separated 0/1, one per prompt word. */
  promptMisalignmentLabel: string;
}

export interface GrayMap {
  width: number;
  height: number;
  /** Row-major 0–255. */
  data: Uint8Array;
}

/** The image uid: the stem of `filename` (no folders, no extension). */
export function uidOf(filename: string): string {
  const base = filename.split(/[\\/]/).pop() ?? filename;
  const dot = base.lastIndexOf('.');
  return dot > 0 ? base.slice(0, dot) : base;
}
