// Native CPU backend over @anyprec/kernels-cpu (N-API, multithreaded, SIMD). The kernel
// signatures are the Backend's own (docs/architecture.md), so each method forwards as is.
import {
  attention,
  cpuInfo,
  dequantBcq,
  dequantLut,
  matmul,
  matmulBcq,
  matmulLut,
  setThreads,
  sgemm,
  threads,
} from '@anyprec/kernels-cpu';
import type { Backend } from './backend.js';
import { rmsNormTs } from './ts.js';

/** Why the native backend cannot be used here, or null when it can. */
export function nativeUnavailableReason(): string | null {
  const info = cpuInfo();
  return info.available ? null : (info.reason ?? 'native addon not available');
}

export class CpuBackend implements Backend {
  readonly name = 'cpu' as const;

  constructor(threadCount?: number) {
    const reason = nativeUnavailableReason();
    if (reason) throw new Error(`native CPU backend unavailable: ${reason}`);
    if (threadCount !== undefined) setThreads(threadCount);
  }

  get threads(): number {
    return threads();
  }

  matmul(...args: Parameters<Backend['matmul']>): void {
    const [out, x, weight, weightDtype, tokens, rows, cols, accumulate = false] = args;
    matmul(out, x, weight, weightDtype, tokens, rows, cols, accumulate);
  }

  matmulLut(...args: Parameters<Backend['matmulLut']>): void {
    matmulLut(...args);
  }

  matmulBcq(...args: Parameters<Backend['matmulBcq']>): void {
    matmulBcq(...args);
  }

  dequantLut(...args: Parameters<Backend['dequantLut']>): void {
    dequantLut(...args);
  }

  dequantBcq(...args: Parameters<Backend['dequantBcq']>): void {
    dequantBcq(...args);
  }

  sgemm(...args: Parameters<Backend['sgemm']>): void {
    sgemm(...args);
  }

  attention(...args: Parameters<Backend['attention']>): void {
    attention(...args);
  }

  rmsNorm(...args: Parameters<Backend['rmsNorm']>): void {
    // O(tokens·dim): not worth a native call; shared with the TypeScript backend.
    rmsNormTs(...args);
  }
}
