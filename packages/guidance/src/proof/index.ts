// The proof on ground truth: the synthetic latent-diffusion world (bundle, autoencoder, exact denoiser), true
// quality from the world's labels, the paired bootstrap, the proof runner and its sweep chart.
export { SYNTH_LDM_DIR, WORLD_SCHEDULE, loadSynthLdm, buildSynthLdm, writeLabelledSet, type SynthLdm, type SynthLdmManifest, type Member, type BuildOptions } from './bundle';
export { PatchAutoencoder, PatchDecoder, PATCH_AE_CONFIG, trainPatchAutoencoder, initPatchWeights, type PatchAeConfig, type TrainPatchAeOptions } from './patch-ae';
export { EmpiricalDenoiser } from './empirical-denoiser';
export { trueQuality, type TrueQuality } from './truth';
export { pairedBootstrap, type Interval } from './bootstrap';
export { runProof, PROOF_DEFAULTS, type ProofOptions, type ProofResult, type SweepPoint } from './proof';
export { sweepChartPng, type SweepRow } from './sweep-chart';
export { decoderFidelity, type FidelityResult } from './fidelity';
