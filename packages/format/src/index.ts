// @anyprec/format core entry: runs in Node and browsers (no Node built-ins here).
// Node file I/O lives in '@anyprec/format/node'.

export * from './config.js';
export * from './container/manifest.js';
export * from './container/names.js';
export * from './container/planes.js';
export * from './container/validate.js';
export * from './crc32.js';
export * from './dtype.js';
export * from './errors.js';
export * from './safetensors/header.js';
export * from './safetensors/reader.js';
export * from './safetensors/source.js';
