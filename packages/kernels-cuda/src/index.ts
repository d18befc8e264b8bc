// @anyprec/kernels-cuda: CUDA bit-plane matmul kernels for layout v1 (docs/architecture.md).
// Importing never fails: without a GPU, driver or CUDA build, cudaInfo() says why and every
// device call throws CudaUnavailableError (after argument validation, which needs no GPU).
import { CudaUnavailableError } from './errors.js';
import {
  type Activations,
  type BcqWeights,
  colocateCode,
  type DeviceDtype,
  dtypeBytes,
  type LutWeights,
  type TensorMeta,
  validateBcqMatmul,
  validateBcqWeights,
  validateDequantOut,
  validateLutMatmul,
  validateLutWeights,
} from './layout.js';
import { loadNative } from './native.js';

export * from './errors.js';
export * from './f16.js';
export * from './layout.js';

/** What the CUDA backend can do on this machine. Never throws. */
export type CudaInfo =
  | { available: true; compiled: true; device: string; deviceCount: number; computeCapability: string }
  | { available: false; compiled: boolean; reason: string };

/** Which path a matmul took: the fused kernel, the fused kernel per 16 tokens, or dequantise + cuBLAS (per L2-sized row block when chunked). */
export type MatmulPath = 'fused' | 'fused-chunked' | 'dequant-cublas' | 'dequant-cublas-chunked';

interface NativeBuffer {
  readonly byteLength: number;
  readonly freed: boolean;
  upload(data: ArrayBufferView, byteOffset?: number): void;
  download(into: ArrayBufferView, byteOffset?: number): void;
  free(): void;
}
interface NativeStream {
  synchronize(): void;
  beginCapture(): void;
  endCapture(): NativeGraph;
  free(): void;
}
interface NativeGraph {
  launch(stream: NativeStream): void;
  free(): void;
}
interface NativeEvent {
  record(stream: NativeStream): void;
  synchronize(): void;
  elapsedMsSince(start: NativeEvent): number;
}
type Buf = NativeBuffer | null;
interface CudaAddon {
  info(): CudaInfo;
  DeviceBuffer?: new (byteLength: number) => NativeBuffer;
  Stream?: new () => NativeStream;
  Event?: new () => NativeEvent;
  matmul(
    s: NativeStream,
    out: Buf,
    x: Buf,
    tokens: number,
    scratch: Buf,
    method: number,
    planes: Buf,
    table: Buf,
    offsets: Buf,
    rows: number,
    cols: number,
    bits: number,
    groupSize: number,
    colocate: number,
  ): MatmulPath;
  dequant(
    s: NativeStream,
    out: Buf,
    method: number,
    planes: Buf,
    table: Buf,
    offsets: Buf,
    rows: number,
    cols: number,
    bits: number,
    groupSize: number,
  ): void;
  gemmF16(s: NativeStream, out: Buf, x: Buf, weight: Buf, tokens: number, rows: number, cols: number): void;
  fill(s: NativeStream, b: Buf, kind: 'u32' | 'f16', seed: number, lo?: number, hi?: number): void;
  cublasInfo(): { available: true; path: string } | { available: false; reason: string };
}

const loaded = loadNative<CudaAddon>();

/** Availability of the CUDA kernels: `{ available: false, reason }` on machines without GPU, driver or build. */
export function cudaInfo(): CudaInfo {
  if (!loaded.addon) return { available: false, compiled: false, reason: loaded.error };
  return loaded.addon.info();
}

let checked: CudaAddon | undefined;
function addon(): CudaAddon {
  if (checked) return checked;
  const info = cudaInfo();
  if (!info.available) throw new CudaUnavailableError(info.reason);
  checked = loaded.addon as CudaAddon;
  return checked;
}

/** Device memory owned by a JS object: freed by `free()` or, failing that, by the garbage collector. */
export class DeviceTensor implements TensorMeta {
  /** @internal */
  constructor(
    readonly dtype: DeviceDtype,
    readonly shape: readonly number[],
    /** @internal */ readonly native: NativeBuffer,
  ) {}
  get byteLength(): number {
    return this.native.byteLength;
  }
  get freed(): boolean {
    return this.native.freed;
  }
  /** Synchronous host -> device copy of `data` (same byte length as the tensor unless `byteOffset` is given). */
  upload(data: ArrayBufferView, byteOffset = 0): void {
    this.native.upload(data, byteOffset);
  }
  /** Synchronous device -> host copy into `into` (default: a new typed array of the tensor's dtype). */
  download<T extends ArrayBufferView>(into?: T): T {
    const n = this.shape.reduce((p, d) => p * d, 1);
    const dst =
      into ??
      ((this.dtype === 'F16'
        ? new Uint16Array(n)
        : this.dtype === 'F32'
          ? new Float32Array(n)
          : new Uint32Array(n)) as unknown as T);
    this.native.download(dst);
    return dst;
  }
  free(): void {
    this.native.free();
  }
}

function elements(shape: readonly number[]): number {
  for (const d of shape)
    if (!Number.isInteger(d) || d < 1)
      throw new RangeError(`shape [${shape.join(', ')}] must hold positive integers`);
  return shape.reduce((p, d) => p * d, 1);
}

/** Uninitialised device tensor. */
export function allocTensor(dtype: DeviceDtype, shape: readonly number[]): DeviceTensor {
  const a = addon();
  const bytes = elements(shape) * dtypeBytes(dtype);
  return new DeviceTensor(
    dtype,
    [...shape],
    new (a.DeviceBuffer as NonNullable<CudaAddon['DeviceBuffer']>)(bytes),
  );
}

/** A container tensor (`<base>.planes` U32, `lut<b>`/`scales<b>`/`offsets<b>` F16, activations) copied to the GPU. */
export function uploadTensor(t: {
  dtype: string;
  shape: readonly number[];
  data: ArrayBufferView;
}): DeviceTensor {
  if (t.dtype !== 'U32' && t.dtype !== 'F16' && t.dtype !== 'F32')
    throw new TypeError(`uploadTensor: dtype ${t.dtype} is not one of U32, F16, F32`);
  const bytes = elements(t.shape) * dtypeBytes(t.dtype);
  if (t.data.byteLength !== bytes)
    throw new RangeError(
      `uploadTensor: shape [${t.shape.join(', ')}] ${t.dtype} needs ${bytes} bytes, data has ${t.data.byteLength}`,
    );
  const out = allocTensor(t.dtype, t.shape);
  out.upload(t.data);
  return out;
}

/** A non-blocking CUDA stream; every launch names one (never the default stream), so graphs can capture them. */
export class CudaStream {
  /** @internal */ readonly native: NativeStream;
  constructor() {
    const a = addon();
    this.native = new (a.Stream as NonNullable<CudaAddon['Stream']>)();
  }
  synchronize(): void {
    this.native.synchronize();
  }
  /** Start recording launches into a graph instead of running them. */
  beginCapture(): void {
    this.native.beginCapture();
  }
  endCapture(): CudaGraph {
    return new CudaGraph(this.native.endCapture());
  }
  free(): void {
    this.native.free();
  }
}

export class CudaGraph {
  /** @internal */
  constructor(private readonly native: NativeGraph) {}
  launch(stream: CudaStream): void {
    this.native.launch(stream.native);
  }
  free(): void {
    this.native.free();
  }
}

export class CudaEvent {
  private readonly native: NativeEvent;
  constructor() {
    const a = addon();
    this.native = new (a.Event as NonNullable<CudaAddon['Event']>)();
  }
  record(stream: CudaStream): void {
    this.native.record(stream.native);
  }
  synchronize(): void {
    this.native.synchronize();
  }
  /** Milliseconds between `start` and this event (both recorded and complete). */
  elapsedMsSince(start: CudaEvent): number {
    return this.native.elapsedMsSince(start.native);
  }
}

function nat(t: TensorMeta | null | undefined): NativeBuffer | null {
  if (!t) return null;
  if (!(t instanceof DeviceTensor))
    throw new TypeError('expected a DeviceTensor from allocTensor/uploadTensor');
  return t.native;
}

/**
 * out[t, r] = Σ_k x[t, k] · W[r, k] with Any-Precision weights at `bits` (planes 0..bits-1 + lut<bits>).
 * Up to 16 tokens the launch may begin streaming the weights before the previous kernel on
 * `stream` has finished (programmatic dependent launch), so the weights must not be written by
 * the kernel launched just before it on the same stream; `x` and `out` are safe.
 */
export function matmulLut(stream: CudaStream, a: LutWeights & Activations): MatmulPath {
  validateLutMatmul(a);
  const m = addon();
  return m.matmul(
    stream.native,
    nat(a.out),
    nat(a.x),
    a.tokens,
    nat(a.scratch),
    0,
    nat(a.planes),
    nat(a.lut),
    null,
    a.rows,
    a.cols,
    a.bits,
    0,
    colocateCode(a.colocate),
  );
}

/**
 * out[t, r] = Σ_k x[t, k] · W[r, k] with AnyBCQ weights at `bits` (planes 0..bits-1 + scales<bits>,
 * offsets<bits>). Same ordering rule for the weights as {@link matmulLut}.
 */
export function matmulBcq(stream: CudaStream, a: BcqWeights & Activations): MatmulPath {
  validateBcqMatmul(a);
  const m = addon();
  return m.matmul(
    stream.native,
    nat(a.out),
    nat(a.x),
    a.tokens,
    nat(a.scratch),
    1,
    nat(a.planes),
    nat(a.scales),
    nat(a.offsets),
    a.rows,
    a.cols,
    a.bits,
    a.groupSize,
    colocateCode(a.colocate),
  );
}

/** out (F16 [rows, cols]) = Any-Precision weights at `bits`. */
export function dequantLut(stream: CudaStream, a: LutWeights & { out: TensorMeta }): void {
  validateLutWeights(a);
  validateDequantOut(a.out, a.rows, a.cols);
  addon().dequant(stream.native, nat(a.out), 0, nat(a.planes), nat(a.lut), null, a.rows, a.cols, a.bits, 0);
}

/** out (F16 [rows, cols]) = AnyBCQ weights at `bits`. */
export function dequantBcq(stream: CudaStream, a: BcqWeights & { out: TensorMeta }): void {
  validateBcqWeights(a);
  validateDequantOut(a.out, a.rows, a.cols);
  addon().dequant(
    stream.native,
    nat(a.out),
    1,
    nat(a.planes),
    nat(a.scales),
    nat(a.offsets),
    a.rows,
    a.cols,
    a.bits,
    a.groupSize,
  );
}

/** cuBLAS fp16 GEMM (fp32 accumulation and output): out [tokens, rows] = x [tokens, cols] · weightᵀ. */
export function gemmF16(
  stream: CudaStream,
  a: { out: TensorMeta; x: TensorMeta; weight: TensorMeta; tokens: number; rows: number; cols: number },
): void {
  addon().gemmF16(stream.native, nat(a.out), nat(a.x), nat(a.weight), a.tokens, a.rows, a.cols);
}

/** Fill with deterministic pseudo-random data: random bits for U32, uniform [lo, hi) for F16 (benchmarks). */
export function fillRandom(stream: CudaStream, t: DeviceTensor, seed: number, lo = -1, hi = 1): void {
  if (t.dtype === 'F32') throw new TypeError('fillRandom: F32 tensors are not supported');
  addon().fill(stream.native, t.native, t.dtype === 'U32' ? 'u32' : 'f16', seed >>> 0, lo, hi);
}

/** Whether cuBLAS (dlopen()ed at run time for the fp16 baseline and prefill) was found, and where. */
export function cublasInfo(): { available: true; path: string } | { available: false; reason: string } {
  return addon().cublasInfo();
}
