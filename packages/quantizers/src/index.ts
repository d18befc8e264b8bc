export * from './anyprec/index.js';
export * from './anybcq/index.js';
