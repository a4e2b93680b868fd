// `@richhf/reward/util`: what every long-running job of the toolkit shares — progress lines, atomic writes,
// ordered read-ahead.
export { Progress, formatDuration } from './progress';
export { writeFileAtomic } from './atomic';
export { inOrderAhead } from './ahead';
export { allInOrder } from './settle';
