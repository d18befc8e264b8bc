// Argument validation: the TypeScript wrappers and the addon itself (called directly, as a
// caller bypassing the wrappers would) both reject bad types and sizes before touching memory.
import { createRequire } from 'node:module';
import { fileURLToPath } from 'node:url';
import { describe, expect, it } from 'vitest';
import * as api from '../src/index.js';
import { loadNative } from '../src/native.js';

const info = api.cpuInfo();
const addonPath = fileURLToPath(new URL('../build/Release/anyprec_cpu.node', import.meta.url));
// biome-ignore lint/suspicious/noExplicitAny: raw addon, deliberately called with wrong types
const raw: any = info.available ? createRequire(import.meta.url)(addonPath) : undefined;

const f32 = (n: number) => new Float32Array(n);
const u16 = (n: number) => new Uint16Array(n);
const u32 = (n: number) => new Uint32Array(n);

// Each case: [function name, arguments, error class, message fragment ('never': a valid call)].
type Case = [string, unknown[], typeof TypeError | typeof RangeError, string];
const cases: Case[] = [
  // matmul(out, x, weight, weightDtype, tokens, rows, cols, accumulate)
  ['matmul', [f32(6), f32(8), f32(12), 'f32', 2, 3, 4], RangeError, 'never'],
  ['matmul', [f32(6), f32(7), f32(12), 'f32', 2, 3, 4], RangeError, 'x has 7 elements, needs at least 8'],
  ['matmul', [f32(5), f32(8), f32(12), 'f32', 2, 3, 4], RangeError, 'out has 5 elements, needs at least 6'],
  ['matmul', [f32(6), f32(8), f32(11), 'f32', 2, 3, 4], RangeError, 'weight has 11 elements, expected 12'],
  [
    'matmul',
    [f32(6), f32(8), u16(12), 'f32', 2, 3, 4],
    TypeError,
    "weight (weightDtype 'f32') must be a Float32Array",
  ],
  [
    'matmul',
    [f32(6), f32(8), f32(12), 'bf16', 2, 3, 4],
    TypeError,
    "weight (weightDtype 'bf16') must be a Uint16Array",
  ],
  [
    'matmul',
    [f32(6), f32(8), u16(12), 'int8', 2, 3, 4],
    TypeError,
    "weightDtype must be 'f32', 'bf16' or 'f16'",
  ],
  ['matmul', [new Float64Array(6), f32(8), f32(12), 'f32', 2, 3, 4], TypeError, 'out must be a Float32Array'],
  ['matmul', [f32(6), f32(8), f32(12), 'f32', 2.5, 3, 4], RangeError, 'tokens must be an integer'],
  ['matmul', [f32(6), f32(8), f32(12), 'f32', 2, -3, 4], RangeError, 'rows must be an integer'],
  ['matmul', [f32(6), f32(8), f32(12), 'f32', 2, 3, '4'], TypeError, 'cols must be a number'],
  // sgemm(transA, transB, m, n, k, alpha, a, lda, b, ldb, beta, c, ldc)
  [
    'sgemm',
    [false, false, 2, 3, 4, 1, f32(8), 3, f32(12), 3, 0, f32(6), 3],
    RangeError,
    'lda (3) must be at least 4',
  ],
  [
    'sgemm',
    [false, true, 2, 3, 4, 1, f32(8), 4, f32(12), 3, 0, f32(6), 3],
    RangeError,
    'ldb (3) must be at least 4',
  ],
  [
    'sgemm',
    [true, false, 2, 3, 4, 1, f32(7), 2, f32(12), 3, 0, f32(6), 3],
    RangeError,
    'a has 7 elements, needs at least 8',
  ],
  [
    'sgemm',
    [false, false, 2, 3, 4, 1, f32(8), 4, f32(12), 3, 0, f32(5), 3],
    RangeError,
    'c has 5 elements, needs at least 6',
  ],
  [
    'sgemm',
    [false, false, 2, 3, 4, 1, f32(8), 4, f32(12), 3, 0, f32(6), 2],
    RangeError,
    'ldc (2) must be at least 3',
  ],
  [
    'sgemm',
    [0, false, 2, 3, 4, 1, f32(8), 4, f32(12), 3, 0, f32(6), 3],
    TypeError,
    'transA must be a boolean',
  ],
  // matmulLut(out, x, planes, lut, tokens, rows, cols, bits)
  ['matmulLut', [f32(4), f32(128), u32(3 * 2 * 2), u16(2 * 8), 2, 2, 64, 3], RangeError, 'never'],
  [
    'matmulLut',
    [f32(3), f32(128), u32(3 * 2 * 2), u16(2 * 8), 2, 2, 64, 3],
    RangeError,
    'out has 3 elements, needs at least 4',
  ],
  [
    'matmulLut',
    [f32(4), f32(128), u32(2 * 2 * 2), u16(2 * 8), 2, 2, 64, 3],
    RangeError,
    "bits (3) exceeds the planes tensor's parent bits P = 2",
  ],
  [
    'matmulLut',
    [f32(4), f32(128), u32(3 * 2 * 2 + 1), u16(2 * 8), 2, 2, 64, 3],
    RangeError,
    'not a positive multiple of rows*cols/32 = 4',
  ],
  [
    'matmulLut',
    [f32(4), f32(128), u32(3 * 2 * 2), u16(2 * 16), 2, 2, 64, 3],
    RangeError,
    'lut has 32 elements, expected 16',
  ],
  [
    'matmulLut',
    [f32(4), f32(100), u32(3 * 2 * 2), u16(2 * 8), 2, 2, 50, 3],
    RangeError,
    'cols (50) must be a multiple of 32',
  ],
  [
    'matmulLut',
    [f32(4), f32(128), u32(9 * 2 * 2), u16(2 * 512), 2, 2, 64, 9],
    RangeError,
    'bits must be an integer in [1, 8]',
  ],
  [
    'matmulLut',
    [f32(4), f32(128), new Int32Array(12), u16(16), 2, 2, 64, 3],
    TypeError,
    'planes must be a Uint32Array',
  ],
  [
    'matmulLut',
    [f32(4), f32(127), u32(12), u16(16), 2, 2, 64, 3],
    RangeError,
    'x has 127 elements, needs at least 128',
  ],
  // matmulBcq(out, x, planes, scales, offsets, tokens, rows, cols, bits, groupSize): cols 96, groups of 64 -> 2 groups
  [
    'matmulBcq',
    [f32(2), f32(96), u32(3 * 2 * 3), u16(2 * 2 * 3), null, 1, 2, 96, 3, 64],
    RangeError,
    'never',
  ],
  [
    'matmulBcq',
    [f32(2), f32(96), u32(3 * 2 * 3), u16(2 * 2 * 2), null, 1, 2, 96, 3, 64],
    RangeError,
    'scales has 8 elements, expected 12 (rows*groups*bits = 2*2*3)',
  ],
  [
    'matmulBcq',
    [f32(2), f32(96), u32(3 * 2 * 3), u16(12), u16(3), 1, 2, 96, 3, 64],
    RangeError,
    'offsets has 3 elements, expected 4',
  ],
  [
    'matmulBcq',
    [f32(2), f32(96), u32(3 * 2 * 3), u16(12), f32(4), 1, 2, 96, 3, 64],
    TypeError,
    'offsets (or null) must be a Uint16Array',
  ],
  [
    'matmulBcq',
    [f32(2), f32(96), u32(3 * 2 * 3), u16(12), null, 1, 2, 96, 3, 0],
    RangeError,
    'groupSize must be an integer in [1, 2^31)',
  ],
  [
    'matmulBcq',
    [f32(2), f32(96), u32(2 * 2 * 3), u16(12), null, 1, 2, 96, 3, 64],
    RangeError,
    "bits (3) exceeds the planes tensor's parent bits P = 2",
  ],
  // dequantLut(out, planes, lut, rows, cols, bits), dequantBcq(out, planes, scales, offsets, rows, cols, bits, groupSize)
  [
    'dequantLut',
    [f32(127), u32(8), u16(8), 2, 64, 2],
    RangeError,
    'out has 127 elements, needs at least 128',
  ],
  ['dequantBcq', [f32(128), u32(8), u16(8), null, 2, 64, 2, 32], RangeError, 'never'],
  [
    'dequantBcq',
    [f32(128), u32(8), u16(7), null, 2, 64, 2, 32],
    RangeError,
    'scales has 7 elements, expected 8',
  ],
  // attention(out, q, k, v, tokens, kvLen, heads, kvHeads, headDim, posOffset, scale)
  ['attention', [f32(16), f32(16), f32(32), f32(32), 2, 4, 2, 1, 4, 2, 0.5], RangeError, 'never'],
  [
    'attention',
    [f32(16), f32(16), f32(32), f32(32), 2, 4, 2, 1, 4, 3, 0.5],
    RangeError,
    'posOffset + tokens (3 + 2) exceeds kvLen (4)',
  ],
  [
    'attention',
    [f32(16), f32(16), f32(32), f32(32), 2, 4, 3, 2, 4, 0, 0.5],
    RangeError,
    'heads (3) must be a multiple of kvHeads (2)',
  ],
  [
    'attention',
    [f32(16), f32(16), f32(15), f32(32), 2, 4, 2, 1, 4, 0, 0.5],
    RangeError,
    'k has 15 elements, needs at least 16',
  ],
  [
    'attention',
    [f32(16), f32(16), f32(32), f32(14), 2, 4, 2, 1, 4, 0, 0.5],
    RangeError,
    'v has 14 elements, needs at least 16',
  ],
  [
    'attention',
    [f32(16), f32(15), f32(32), f32(32), 2, 4, 2, 1, 4, 0, 0.5],
    RangeError,
    'q has 15 elements, needs at least 16',
  ],
  [
    'attention',
    [f32(16), f32(16), f32(32), f32(32), 2, 4, 2, 1, 4, 0, Number.NaN],
    RangeError,
    'scale must be finite',
  ],
  [
    'attention',
    [f32(16), f32(16), f32(32), f32(32), 2, 4, 2, 0, 4, 0, 0.5],
    RangeError,
    'kvHeads must be an integer in [1, 2^31)',
  ],
];

describe.runIf(info.available)('argument validation', () => {
  for (const [layer, call] of [
    [
      'TypeScript wrapper',
      (name: string, args: unknown[]) =>
        (api as Record<string, unknown> as Record<string, (...a: unknown[]) => void>)[name](...args),
    ],
    ['addon', (name: string, args: unknown[]) => raw[name](...args)],
  ] as const) {
    it(`${layer}: rejects wrong types and sizes with the argument's name`, () => {
      for (const [name, args, kind, message] of cases) {
        if (message === 'never') {
          expect(() => call(name, args), `${name} valid call`).not.toThrow();
          continue;
        }
        let error: unknown;
        try {
          call(name, args);
        } catch (e) {
          error = e;
        }
        expect(error, `${name}: ${message}`).toBeInstanceOf(kind);
        expect((error as Error).message, name).toContain(message);
      }
    });
  }

  it('rejects out aliasing an input (addon)', () => {
    const buf = new Float32Array(64);
    expect(() => raw.matmul(buf.subarray(0, 8), buf.subarray(4, 20), f32(8), 'f32', 2, 4, 2, false)).toThrow(
      /out must not overlap x or weight/,
    );
  });

  it('survives resizing the pool right after it starts (regression: a worker that had not run yet never saw the stop signal and join() hung)', () => {
    const x = new Float32Array(8 * 512).fill(0.5);
    const w = new Float32Array(512 * 512).fill(0.25);
    const out = new Float32Array(8 * 512);
    for (let i = 0; i < 2000; i++) {
      api.setThreads(2);
      api.matmul(out, x, w, 'f32', 8, 512, 512);
      api.setThreads(1);
    }
    expect(out[0]).toBe(0.5 * 0.25 * 512);
    api.setThreads(info.hardwareThreads ?? 1);
  });

  it('setThreads validates and round-trips', () => {
    expect(() => api.setThreads(0)).toThrow(RangeError);
    expect(() => raw.setThreads(1.5)).toThrow(RangeError);
    api.setThreads(1);
    expect(api.threads()).toBe(1);
    expect(api.cpuInfo().threads).toBe(1);
    api.setThreads(info.hardwareThreads ?? 1);
    expect(api.threads()).toBe(info.hardwareThreads ?? 1);
  });
});

describe('unavailable addon', () => {
  it('loadNative reports why instead of throwing', () => {
    const prev = process.env.ANYPREC_CPU_ADDON;
    process.env.ANYPREC_CPU_ADDON = '/nonexistent/anyprec_cpu.node';
    try {
      const r = loadNative();
      expect(r.addon).toBeUndefined();
      expect(r.error).toContain('not built');
    } finally {
      if (prev === undefined) delete process.env.ANYPREC_CPU_ADDON;
      else process.env.ANYPREC_CPU_ADDON = prev;
    }
  });
});
