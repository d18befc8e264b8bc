// Native CPU backend over @anyprec/kernels-cpu (N-API, multithreaded, SIMD). Kernels are
// looked up one by one: while a kernel is not (yet) exported by the addon, the TypeScript
// implementation stands in for it, so the runtime is never blocked on a missing symbol.
import * as kernels from '@anyprec/kernels-cpu';
import type { Backend, WeightDtype } from './backend.js';
import { rmsNormTs, TsBackend } from './ts.js';

/** The subset of the kernels-cpu API (docs/architecture.md) this backend calls. */
interface NativeKernels {
  cpuInfo(): { available: boolean; reason?: string; hardwareThreads?: number };
  setThreads(n: number): void;
  threads(): number;
  matmul: Backend['matmul'];
  matmulLut: Backend['matmulLut'];
  matmulBcq: Backend['matmulBcq'];
  dequantLut: Backend['dequantLut'];
  dequantBcq: Backend['dequantBcq'];
  sgemm: Backend['sgemm'];
  attention: Backend['attention'];
  rmsNorm?: Backend['rmsNorm'];
}

const native = kernels as unknown as Partial<NativeKernels>;

/** Why the native backend cannot be used here, or null when it can. */
export function nativeUnavailableReason(): string | null {
  if (typeof native.cpuInfo !== 'function') return '@anyprec/kernels-cpu exports no cpuInfo()';
  const info = native.cpuInfo();
  if (!info.available) return info.reason ?? 'native addon not available';
  if (typeof native.matmul !== 'function') return '@anyprec/kernels-cpu does not export matmul() yet';
  return null;
}

/** Names of the kernel functions that currently fall back to TypeScript. */
export function missingNativeKernels(): string[] {
  const names: (keyof NativeKernels)[] = [
    'matmul',
    'matmulLut',
    'matmulBcq',
    'dequantLut',
    'dequantBcq',
    'sgemm',
    'attention',
  ];
  return names.filter((name) => typeof native[name] !== 'function');
}

export class CpuBackend implements Backend {
  readonly name = 'cpu' as const;
  private readonly fallback = new TsBackend();

  constructor(threads?: number) {
    const reason = nativeUnavailableReason();
    if (reason) throw new Error(`native CPU backend unavailable: ${reason}`);
    if (threads !== undefined && typeof native.setThreads === 'function') native.setThreads(threads);
  }

  get threads(): number {
    return typeof native.threads === 'function' ? native.threads() : 1;
  }

  matmul(
    out: Float32Array,
    x: Float32Array,
    weight: Float32Array | Uint16Array,
    weightDtype: WeightDtype,
    tokens: number,
    rows: number,
    cols: number,
    accumulate = false,
  ): void {
    (native.matmul as Backend['matmul'])(out, x, weight, weightDtype, tokens, rows, cols, accumulate);
  }

  matmulLut(...args: Parameters<Backend['matmulLut']>): void {
    (native.matmulLut ?? this.fallback.matmulLut.bind(this.fallback))(...args);
  }

  matmulBcq(...args: Parameters<Backend['matmulBcq']>): void {
    (native.matmulBcq ?? this.fallback.matmulBcq.bind(this.fallback))(...args);
  }

  dequantLut(...args: Parameters<Backend['dequantLut']>): void {
    (native.dequantLut ?? this.fallback.dequantLut.bind(this.fallback))(...args);
  }

  dequantBcq(...args: Parameters<Backend['dequantBcq']>): void {
    (native.dequantBcq ?? this.fallback.dequantBcq.bind(this.fallback))(...args);
  }

  sgemm(...args: Parameters<Backend['sgemm']>): void {
    (native.sgemm ?? this.fallback.sgemm.bind(this.fallback))(...args);
  }

  attention(...args: Parameters<Backend['attention']>): void {
    (native.attention ?? this.fallback.attention.bind(this.fallback))(...args);
  }

  rmsNorm(
    out: Float32Array,
    x: Float32Array,
    weight: Float32Array,
    tokens: number,
    dim: number,
    eps: number,
  ): void {
    // O(tokens·dim): not worth a native call; shared with the TypeScript backend.
    rmsNormTs(out, x, weight, tokens, dim, eps);
  }
}
