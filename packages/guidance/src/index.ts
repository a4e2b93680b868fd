// Public API of @richhf/guidance (filled in by the modules as they land).
// Schedulers (DDIM, Euler, Euler ancestral, DDPM; diffusers' contract and numbers) and the seeded noise.
export * from './schedulers';
export { GaussianGenerator, philox4x32 } from './random';
// The Stable Diffusion pipeline on onnxruntime-node (optimum ONNX layout), its hook and its parts.
export * from './pipeline';
// Decoders and encoders (TAESD, AutoencoderKL; tfjs and onnxruntime with gradient graphs).
export * from './decoders';
// RAHF reward guidance for any latent-diffusion sampler (ε, σ-space and post-step adapters).
export * from './guidance';
// The proof that guidance raises true quality: the synthetic latent-diffusion world and its runner.
export * from './proof';
