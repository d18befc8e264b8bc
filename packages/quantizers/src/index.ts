// @anyprec/quantizers: Any-Precision LLM (anyprec/) and AnyBCQ (anybcq/) quantizers that
// write anyprec bit-plane containers, plus the calibration sampling both use.

export * from './anybcq/index.js';
export * from './anyprec/index.js';
export * from './calib.js';
