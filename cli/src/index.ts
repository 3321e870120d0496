// @lathe/cli: the `lathe` command line. The package entry exposes the dispatcher for tests and embedding.
export { COMMANDS, helpText, main } from './main.js';
export type { Command } from './main.js';
