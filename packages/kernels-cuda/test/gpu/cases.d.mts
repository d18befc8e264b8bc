import type * as K from '../../src/index.js';
import type { RefLayer } from '../reference.mjs';
export interface Shape {
  rows: number;
  cols: number;
  planesHost: Uint32Array;
  planes: K.DeviceTensor;
  next: () => number;
}
export interface Weights {
  host: RefLayer;
  dev: Record<string, unknown> & { planes: K.DeviceTensor; rows: number; cols: number; bits: number };
}
export function makeShape(k: typeof K, s: { rows: number; cols: number }, seed: number): Shape;
export function makeWeights(
  k: typeof K,
  shape: Shape,
  method: 'lut' | 'bcq',
  bits: number,
  opts?: { groupSize?: number; offsets?: boolean },
): Weights;
export function freeWeights(w: Weights): void;
export function runCase(
  k: typeof K,
  stream: K.CudaStream,
  shape: Shape,
  w: Weights,
  rowList: number[],
  wRows: { w: Float64Array; mag: Float64Array },
  tokens: number,
  opts?: {
    scratch?: K.DeviceTensor | null;
    graph?: boolean;
    colocate?: 'auto' | 'never';
    makeX?: (n: number, next: () => number) => { bits: Uint16Array; vals: Float64Array };
  },
): { worst: number; where: string; written: boolean; path: string };
