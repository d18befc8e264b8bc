export function rng(seed: number): () => number;
export function f16ToNumber(h: number): number;
export function numberToF16(v: number): number;
export function randomF16(
  n: number,
  lo: number,
  hi: number,
  next: () => number,
): { bits: Uint16Array; vals: Float64Array };
export function randomPlanes(P: number, rows: number, cols: number, next: () => number): Uint32Array;
export function planeBit(
  planes: Uint32Array,
  rows: number,
  cols: number,
  p: number,
  r: number,
  c: number,
): number;
export function randomLut(rows: number, bits: number, next: () => number): Uint16Array;
export function randomBcq(
  rows: number,
  groups: number,
  bits: number,
  next: () => number,
  withOffsets?: boolean,
): { scales: Uint16Array; offsets: Uint16Array | null };
export interface RefLayer {
  method: 'lut' | 'bcq';
  planes: Uint32Array;
  rows: number;
  cols: number;
  bits: number;
  lut?: Uint16Array;
  scales?: Uint16Array;
  offsets?: Uint16Array | null;
  groupSize?: number;
}
export function dequantRows(layer: RefLayer, rowList: number[]): { w: Float64Array; mag: Float64Array };
export function referenceMatmul(
  wRows: { w: Float64Array; mag: Float64Array },
  x: ArrayLike<number>,
  tokens: number,
  cols: number,
): { ref: Float64Array; tol: Float64Array };
export function sampleRows(rows: number, count: number, next: () => number): number[];
