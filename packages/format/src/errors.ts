// Typed errors: one class per kind of problem, each naming the file (or tensor/field)
// involved and saying what to do, so callers can branch on `instanceof` and users can act
// on the message.

/** Base class of every error thrown by @anyprec/format. `file` names the file or source involved. */
export class FormatError extends Error {
  readonly file: string;
  constructor(file: string, message: string) {
    super(`${file}: ${message}`);
    this.name = new.target.name;
    this.file = file;
  }
}

/** The file is shorter than the 8-byte header length prefix, or shorter than the header says. */
export class TruncatedFileError extends FormatError {}

/** The declared header length exceeds the cap (default 100 MiB) or the file size. */
export class HeaderTooLargeError extends FormatError {}

/** The header bytes are not valid UTF-8. */
export class HeaderEncodingError extends FormatError {}

/** The header is not valid JSON, or its JSON does not have the safetensors structure. */
export class HeaderJsonError extends FormatError {}

/** A tensor entry names a dtype this library does not know. */
export class UnsupportedDtypeError extends FormatError {}

/** A tensor's data_offsets fall outside the data section of the file. */
export class OffsetOutOfRangeError extends FormatError {}

/** Two tensors' byte ranges overlap. */
export class OffsetOverlapError extends FormatError {}

/** Bytes of the data section belong to no tensor (a gap between tensors, or trailing bytes). */
export class OffsetHoleError extends FormatError {}

/** A tensor's byte length is not dtype size × product(shape). */
export class ByteLengthMismatchError extends FormatError {}

/** The container manifest declares a format name or version this library cannot read. */
export class UnsupportedVersionError extends FormatError {}

/** The container manifest is malformed (missing/invalid field). */
export class ManifestError extends FormatError {}

/** A tensor's bytes do not match the CRC-32 recorded in the manifest. */
export class ChecksumMismatchError extends FormatError {}

/** Tensors that the container method requires are absent, or have the wrong dtype/shape. */
export class MissingTensorError extends FormatError {}

/** A tensor name was requested that the file/model does not contain. */
export class TensorNotFoundError extends FormatError {}

/** model.safetensors.index.json is malformed or inconsistent with its shards. */
export class ShardIndexError extends FormatError {}

/** config.json describes an architecture or option anyprec does not support. `field` names it. */
export class UnsupportedConfigError extends FormatError {
  readonly field: string;
  constructor(file: string, field: string, message: string) {
    super(file, `${field}: ${message}`);
    this.field = field;
  }
}

/** A path given to openModel/inspect is neither a model directory nor a safetensors file. */
export class ModelNotFoundError extends FormatError {}

/** Invalid arguments to pack/unpack/dequantize or the writer (sizes, bits, lengths). */
export class ArgumentError extends FormatError {}
