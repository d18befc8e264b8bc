/** The CUDA kernels cannot run here (no GPU, driver or build); `reason` says which. */
export class CudaUnavailableError extends Error {
  constructor(readonly reason: string) {
    super(`@anyprec/kernels-cuda is not usable on this machine: ${reason}`);
    this.name = 'CudaUnavailableError';
  }
}

/** A kernel argument has the wrong shape, size or value; `argument` names it. Thrown before any launch. */
export class KernelArgumentError extends RangeError {
  constructor(
    readonly argument: string,
    message: string,
  ) {
    super(`${argument}: ${message}`);
    this.name = 'KernelArgumentError';
  }
}

/** A device tensor has the wrong dtype for the argument it was passed as. Thrown before any launch. */
export class KernelDtypeError extends TypeError {
  constructor(
    readonly argument: string,
    readonly expected: string,
    readonly actual: string,
  ) {
    super(`${argument}: expected dtype ${expected}, got ${actual}`);
    this.name = 'KernelDtypeError';
  }
}
