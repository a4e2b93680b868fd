// @richhf/examples: the headless runner of the tslab notebooks in this folder (used by `pnpm notebooks`
// and the test suite).
export { type Notebook, type Cell, type Output, readNotebook, formatNotebook, hasOutputs, clearOutputs, cellSource } from './notebook';
export { type NotebookRun, type CellReport, type RunOptions, runNotebook, errorHeadline } from './run-notebook';
export { EXAMPLES_DIR, findNotebooks, main } from './cli';
