/** Options that cannot work (bits out of range, a layer that cannot be quantized, ...). */
export class AnyPrecOptionsError extends Error {
  override name = 'AnyPrecOptionsError';
}

/** The output directory holds a partial run made with different options, or something else. */
export class ResumeMismatchError extends Error {
  override name = 'ResumeMismatchError';
}
