/** Base class of every error the runtime throws on purpose; `name` is the subclass name. */
export class RuntimeError extends Error {
  constructor(message: string) {
    super(message);
    this.name = new.target.name;
  }
}

/** config.json asks for an architecture or option this runtime does not implement. */
export class UnsupportedModelError extends RuntimeError {
  constructor(
    readonly field: string,
    message: string,
  ) {
    super(`config field \`${field}\`: ${message}`);
  }
}

/** A tensor the model needs is absent or has the wrong shape/dtype. */
export class WeightError extends RuntimeError {
  constructor(
    readonly tensor: string,
    message: string,
  ) {
    super(`tensor \`${tensor}\`: ${message}`);
  }
}

/** The requested precision is not served by this model (see `model.precisions`). */
export class PrecisionError extends RuntimeError {}

/** Bad argument to a public runtime function (names the argument). */
export class RuntimeArgumentError extends RuntimeError {}

/** Tokenizer files missing or unusable, or a chat template that cannot be rendered. */
export class TokenizerError extends RuntimeError {}
