// @anyprec/format/node: Node file I/O (positional reads, streaming atomic writes, model dirs).
// Re-exports the core entry so Node users need one import.
export * from './index.js';
export * from './node/container.js';
export * from './node/file-source.js';
export * from './node/inspect.js';
export * from './node/open.js';
export * from './node/writer.js';
