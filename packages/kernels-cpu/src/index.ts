import { loadNative } from './native.js';

export interface CpuInfo {
  available: boolean;
  reason?: string;
  hardwareThreads?: number;
  avx2?: boolean;
  avx512f?: boolean;
}

interface CpuAddon {
  info(): Omit<CpuInfo, 'available'>;
}

const loaded = loadNative<CpuAddon>();

/** Whether the native CPU kernels loaded; `reason` says why not. Never throws. */
export function cpuInfo(): CpuInfo {
  if (!loaded.addon) return { available: false, reason: loaded.error };
  return { available: true, ...loaded.addon.info() };
}

export * from './quant.js';
export * from './bcq.js';
