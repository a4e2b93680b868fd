// `@richhf/reward/nn`: tfjs layers with Hugging Face semantics and the parameter store they read.
export * from './layers';
export { Params } from './params';
