// Host-side behaviour that needs no GPU: availability reporting, layout helpers, fp16
// conversion, and the argument validation every launch runs before touching the device.
import { existsSync } from 'node:fs';
import { createRequire } from 'node:module';
import { fileURLToPath } from 'node:url';
import { describe, expect, it } from 'vitest';
import {
  bcqGroups,
  CudaUnavailableError,
  cudaInfo,
  FUSED_MAX_TOKENS,
  fromF16Bits,
  fusedMaxCols,
  KernelArgumentError,
  KernelDtypeError,
  matmulLut,
  planesPrefixBytes,
  planesShape,
  prefillScratchBytes,
  type TensorMeta,
  toF16Bits,
  validateBcqMatmul,
  validateLutMatmul,
} from '../src/index.js';
import { f16ToNumber, numberToF16, planeBit, rng } from './reference.mjs';

const t = (dtype: string, ...shape: number[]): TensorMeta => ({ dtype, shape });

describe('cudaInfo', () => {
  it('never throws and explains unavailability', () => {
    const info = cudaInfo();
    if (info.available) {
      expect(info.device.length).toBeGreaterThan(0);
      expect(info.deviceCount).toBeGreaterThan(0);
    } else {
      expect(info.reason.length).toBeGreaterThan(10);
    }
  });
});

describe('layout v1 helpers', () => {
  it('planes shape and the prefix a width reads', () => {
    expect(planesShape(8, 4096, 14336)).toEqual([8, 4096, 448]);
    // 3 planes of a 14336x4096 layer: 3 * 14336 * 128 words of 4 bytes
    expect(planesPrefixBytes(3, 14336, 4096)).toBe((3 * 14336 * 4096) / 8);
    expect(() => planesShape(8, 16, 48)).toThrow(KernelArgumentError);
    expect(bcqGroups(4096, 128)).toBe(32);
    expect(bcqGroups(4128, 128)).toBe(33);
    expect(prefillScratchBytes(1024, 4096)).toBe(8 << 20);
  });

  it('fused kernel column limit covers Llama shapes at every token count', () => {
    for (let m = 1; m <= FUSED_MAX_TOKENS; m++) expect(fusedMaxCols(m)).toBeGreaterThanOrEqual(14336);
  });

  // The TS limit mirrors native/bitplane.cu so that a too-wide call fails validation before it
  // reaches the addon; compare with the compiled addon where one with CUDA kernels is built.
  const addonPath = fileURLToPath(new URL('../build/Release/anyprec_cuda.node', import.meta.url));
  const addon = existsSync(addonPath)
    ? (createRequire(import.meta.url)(addonPath) as { fusedMaxCols?: (tokens: number) => number })
    : {};
  it.skipIf(!addon.fusedMaxCols)('fused kernel column limit matches the native addon', () => {
    for (let m = 1; m <= FUSED_MAX_TOKENS; m++) expect(fusedMaxCols(m)).toBe(addon.fusedMaxCols?.(m));
  });

  it('reference bit order: bit j of word w is column 32w + j, plane-major then row', () => {
    // planes [2, 2, 2] words; set plane 1, row 1, column 37 (word 1, bit 5)
    const planes = new Uint32Array(8);
    planes[(1 * 2 + 1) * 2 + 1] = 1 << 5;
    expect(planeBit(planes, 2, 64, 1, 1, 37)).toBe(1);
    expect(planeBit(planes, 2, 64, 0, 1, 37)).toBe(0);
    expect(planeBit(planes, 2, 64, 1, 1, 36)).toBe(0);
  });
});

describe('fp16 conversion', () => {
  it('matches the independent reference conversion on random and edge values', () => {
    const next = rng(3);
    const values = [0, -0, 1, -2, 65504, 6.1e-5, 5.96e-8, 1 / 3, 2049, 2051];
    for (let i = 0; i < 2000; i++) values.push((next() * 2 - 1) * 10 ** Math.floor(next() * 8 - 4));
    for (const v of values) {
      expect(toF16Bits(v)).toBe(numberToF16(v));
      expect(fromF16Bits(toF16Bits(v))).toBe(f16ToNumber(numberToF16(v)));
    }
    expect(toF16Bits(1e6)).toBe(0x7c00);
    expect(Number.isNaN(fromF16Bits(toF16Bits(Number.NaN)))).toBe(true);
  });
});

describe('argument validation (before any launch)', () => {
  const rows = 64;
  const cols = 256;
  const lut = {
    planes: t('U32', 8, rows, cols / 32),
    lut: t('F16', rows, 8),
    rows,
    cols,
    bits: 3,
    x: t('F16', 4, cols),
    out: t('F32', 4, rows),
    tokens: 4,
  };
  const bcq = {
    planes: t('U32', 4, rows, cols / 32),
    scales: t('F16', rows, 2, 4),
    offsets: t('F16', rows, 2),
    rows,
    cols,
    bits: 4,
    groupSize: 128,
    x: t('F16', 2, cols),
    out: t('F32', 2, rows),
    tokens: 2,
  };

  it('accepts well-formed Any-Precision and AnyBCQ calls', () => {
    expect(() => validateLutMatmul(lut)).not.toThrow();
    expect(() => validateLutMatmul({ ...lut, tokens: 1 })).not.toThrow(); // buffers may hold more tokens
    expect(() => validateBcqMatmul(bcq)).not.toThrow();
    expect(() => validateBcqMatmul({ ...bcq, offsets: null })).not.toThrow();
    expect(() => validateLutMatmul({ ...lut, colocate: 'never' })).not.toThrow();
    expect(() => validateBcqMatmul({ ...bcq, colocate: 'auto' })).not.toThrow();
  });

  it.each([
    [
      'bits above the parent precision',
      { bits: 4, planes: t('U32', 3, rows, cols / 32), lut: t('F16', rows, 16) },
      'planes',
    ],
    ['bits out of range', { bits: 9 }, 'bits'],
    ['Any-Precision 1-bit', { bits: 1, lut: t('F16', rows, 2) }, 'bits'],
    ['cols not a multiple of 32', { cols: 250 }, 'cols'],
    ['planes for another row count', { planes: t('U32', 8, rows + 1, cols / 32) }, 'planes'],
    ['lut for another width', { lut: t('F16', rows, 16) }, 'lut'],
    ['more tokens than x holds', { tokens: 5 }, 'x'],
    ['x for other columns', { x: t('F16', 4, cols + 32) }, 'x'],
    ['out for other rows', { out: t('F32', 4, rows - 1) }, 'out'],
    ['fractional token count', { tokens: 1.5 }, 'tokens'],
    ['scratch too small', { tokens: 4, scratch: t('F16', rows, cols / 2) }, 'scratch'],
    ['an unknown colocation mode', { colocate: 'always' as never }, 'colocate'],
    [
      'cols beyond the fused kernel without scratch',
      {
        cols: 131072,
        planes: t('U32', 8, rows, 4096),
        x: t('F16', 4, 131072),
      },
      'cols',
    ],
  ])('Any-Precision: %s', (_name, patch, argument) => {
    const err = (() => {
      try {
        validateLutMatmul({ ...lut, ...patch });
      } catch (e) {
        return e;
      }
    })();
    expect(err).toBeInstanceOf(KernelArgumentError);
    expect((err as KernelArgumentError).argument).toBe(argument);
  });

  it.each([
    ['x as f32', { x: t('F32', 4, cols) }, 'x'],
    ['out as f16', { out: t('F16', 4, rows) }, 'out'],
    ['planes as f16', { planes: t('F16', 8, rows, cols / 32) }, 'planes'],
    ['lut as f32', { lut: t('F32', rows, 8) }, 'lut'],
  ])('Any-Precision dtype: %s', (_name, patch, argument) => {
    expect(() => validateLutMatmul({ ...lut, ...patch })).toThrow(KernelDtypeError);
    expect(() => validateLutMatmul({ ...lut, ...patch })).toThrow(new RegExp(`^${argument}:`));
  });

  it.each([
    [
      'groupSize not a multiple of 32',
      { groupSize: 100, scales: t('F16', rows, 3, 4), offsets: t('F16', rows, 3) },
      'groupSize',
    ],
    ['scales for another group count', { scales: t('F16', rows, 4, 4) }, 'scales'],
    ['scales for another width', { scales: t('F16', rows, 2, 3) }, 'scales'],
    ['offsets for another group count', { offsets: t('F16', rows, 1) }, 'offsets'],
    ['AnyBCQ 0-bit', { bits: 0 }, 'bits'],
  ])('AnyBCQ: %s', (_name, patch, argument) => {
    expect(() => validateBcqMatmul({ ...bcq, ...patch })).toThrow(KernelArgumentError);
    expect(() => validateBcqMatmul({ ...bcq, ...patch })).toThrow(new RegExp(`^${argument}:`));
  });

  it('launch wrappers validate before checking for a device', () => {
    // Without a GPU the wrapper must still report the bad argument, not the missing device.
    expect(() => matmulLut({} as never, { ...lut, bits: 9 })).toThrow(KernelArgumentError);
    if (!cudaInfo().available) expect(() => matmulLut({} as never, lut)).toThrow(CudaUnavailableError);
  });
});
