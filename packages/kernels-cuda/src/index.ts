import { loadNative } from './native.js';

/** What the CUDA backend can do on this machine. Never throws. */
export type CudaInfo =
  | { available: true; compiled: true; device: string; deviceCount: number; computeCapability: string }
  | { available: false; compiled: boolean; reason: string };

interface CudaAddon {
  info(): CudaInfo;
}

const loaded = loadNative<CudaAddon>();

/** Availability of the CUDA kernels: `{ available: false, reason }` on machines without GPU, driver or build. */
export function cudaInfo(): CudaInfo {
  if (!loaded.addon) return { available: false, compiled: false, reason: loaded.error };
  return loaded.addon.info();
}
