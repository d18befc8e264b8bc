// Any-Precision LLM (Park et al., ICML 2024): one parent model, every width seed..parent.

export { type AnyPrecRows, type AnyPrecRowsOptions, quantizeAnyPrecRows } from '@anyprec/kernels-cpu';
export { AnyPrecOptionsError, ResumeMismatchError } from './errors.js';
export { type LinearLayer, type LinearSelection, selectLinears } from './linears.js';
export {
  type AnyPrecProgress,
  type AnyPrecQuantizeOptions,
  type AnyPrecQuantizeResult,
  linearSeed,
  quantizeAnyPrec,
} from './quantize.js';
export { WORK_DIR } from './workdir.js';
