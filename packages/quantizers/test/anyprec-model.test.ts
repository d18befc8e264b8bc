// Whole-model Any-Precision quantization of the embedded tiny model (unit sensitivities, so
// no runtime is needed): the container's prefix property on every layer, decoded here
// bit by bit from the planes; tables equal to the rounded means of the original weights;
// error falling with width; determinism; resuming an interrupted run.
import { existsSync, mkdtempSync, readdirSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { dequantizeLut, openModel } from '@anyprec/format/node';
import { cpuInfo } from '@anyprec/kernels-cpu';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { type AnyPrecProgress, quantizeAnyPrec, WORK_DIR } from '../src/index.js';

const TINY = fileURLToPath(new URL('../../../models/tiny', import.meta.url));
const native = cpuInfo().available;

function halfToFloat(h: number): number {
  const s = h & 0x8000 ? -1 : 1;
  const e = (h >> 10) & 0x1f;
  const m = h & 0x3ff;
  if (e === 0) return s * m * 2 ** -24;
  return s * (1 + m / 1024) * 2 ** (e - 15);
}

/** Parent index of every weight from planes [P, rows, cols/32], plane 0 = MSB (docs/architecture.md). */
function decodeParent(planes: Uint32Array, P: number, rows: number, cols: number): Uint8Array {
  const words = cols / 32;
  const out = new Uint8Array(rows * cols);
  for (let r = 0; r < rows; r++) {
    for (let c = 0; c < cols; c++) {
      let idx = 0;
      for (let p = 0; p < P; p++)
        idx = (idx << 1) | ((planes[(p * rows + r) * words + (c >> 5)] >>> (c & 31)) & 1);
      out[r * cols + c] = idx;
    }
  }
  return out;
}

const u32 = (b: Uint8Array) => new Uint32Array(b.buffer.slice(b.byteOffset, b.byteOffset + b.byteLength));
const u16 = (b: Uint8Array) => new Uint16Array(b.buffer.slice(b.byteOffset, b.byteOffset + b.byteLength));

describe.skipIf(!native)('quantizeAnyPrec on models/tiny (unit sensitivities)', () => {
  const root = mkdtempSync(join(tmpdir(), 'anyprec-q-'));
  const out = join(root, 'full');
  const seedBits = 3;
  const maxBits = 6;
  const base = { model: TINY, seedBits, maxBits, sensitivity: 'unit' as const, seed: 5, restarts: 2 };

  beforeAll(async () => {
    await quantizeAnyPrec({ ...base, out });
  });
  afterAll(() => rmSync(root, { recursive: true, force: true }));

  it('writes a container serving every width seed..max for all 28 decoder linears, work dir removed', async () => {
    const m = await openModel(out);
    try {
      expect(m.manifest?.method).toBe('anyprec');
      expect(m.manifest?.precisions).toEqual([3, 4, 5, 6]);
      expect(m.manifest?.seedBits).toBe(3);
      expect(m.manifest?.quantized.length).toBe(4 * 7);
      expect(m.tensors.has('model.layers.0.self_attn.q_proj.weight')).toBe(false);
      expect(m.tensors.has('model.embed_tokens.weight')).toBe(true);
    } finally {
      await m.close();
    }
    expect(existsSync(join(out, WORK_DIR))).toBe(false);
  });

  it('every layer: width-b weights == lut<b>[top b bits of the parent index], tables are the rounded member means, error falls with b', async () => {
    const m = await openModel(out);
    const src = await openModel(TINY);
    try {
      for (const layer of m.manifest!.quantized) {
        const [P, rows, words] = m.tensors.get(`${layer}.planes`)!.shape;
        const cols = words * 32;
        const planes = u32(await m.readTensor(`${layer}.planes`));
        const parent = decodeParent(planes, P, rows, cols);
        const original = await src.readTensorF32(`${layer}.weight`);
        let prevErr = Number.POSITIVE_INFINITY;
        for (let b = seedBits; b <= maxBits; b++) {
          const lut = u16(await m.readTensor(`${layer}.lut${b}`));
          const deq = dequantizeLut(planes, lut, rows, cols, b);
          const sums = new Float64Array(rows << b);
          const counts = new Float64Array(rows << b);
          let err = 0;
          let mismatches = 0;
          for (let r = 0; r < rows; r++) {
            for (let c = 0; c < cols; c++) {
              const i = r * cols + c;
              const cell = (r << b) + (parent[i] >> (P - b));
              if (deq[i] !== halfToFloat(lut[cell])) mismatches++;
              sums[cell] += original[i];
              counts[cell]++;
              err += (original[i] - deq[i]) ** 2;
            }
          }
          expect(mismatches, `${layer} width ${b}`).toBe(0);
          // tables hold the mean of their members (unit sensitivities), rounded to f16
          let badMeans = 0;
          for (let cell = 0; cell < sums.length; cell++) {
            if (counts[cell] === 0) continue;
            const mean = sums[cell] / counts[cell];
            if (!(Math.abs(halfToFloat(lut[cell]) - mean) <= Math.abs(mean) * 2 ** -11 + 2 ** -25))
              badMeans++;
          }
          expect(badMeans, `${layer} width ${b}`).toBe(0);
          expect(err).toBeLessThan(prevErr);
          prevErr = err;
        }
      }
    } finally {
      await m.close();
      await src.close();
    }
  });

  it('is deterministic for a seed (and independent of the thread count)', async () => {
    const again = join(root, 'again');
    await quantizeAnyPrec({ ...base, out: again, threads: 1, include: ['layers.1.'] });
    const a = await openModel(out);
    const b = await openModel(again);
    try {
      for (const name of [
        'model.layers.1.mlp.down_proj.planes',
        'model.layers.1.self_attn.k_proj.lut3',
        'model.layers.1.mlp.up_proj.lut6',
      ]) {
        expect(Buffer.from(await b.readTensor(name)).equals(Buffer.from(await a.readTensor(name)))).toBe(
          true,
        );
      }
    } finally {
      await a.close();
      await b.close();
    }
  });

  it('resumes an interrupted run after the last finished linear and gives the same container', async () => {
    const resumedOut = join(root, 'resumed');
    const stopAfter = 3;
    let seen = 0;
    await expect(
      quantizeAnyPrec({
        ...base,
        out: resumedOut,
        onProgress: (e: AnyPrecProgress) => {
          if (e.kind === 'linear' && ++seen === stopAfter) throw new Error('interrupted');
        },
      }),
    ).rejects.toThrow('interrupted');
    expect(readdirSync(join(resumedOut, WORK_DIR, 'layers')).filter((f) => f.endsWith('.bin')).length).toBe(
      stopAfter,
    );

    const events: AnyPrecProgress[] = [];
    const result = await quantizeAnyPrec({ ...base, out: resumedOut, onProgress: (e) => events.push(e) });
    expect(result.resumedLinears).toBe(stopAfter);
    const linearEvents = events.filter((e) => e.kind === 'linear');
    expect(linearEvents.map((e) => e.resumed)).toEqual(linearEvents.map((_, i) => i < stopAfter));

    const a = await openModel(out);
    const b = await openModel(resumedOut);
    try {
      for (const [name] of a.tensors)
        expect(Buffer.from(await b.readTensor(name)).equals(Buffer.from(await a.readTensor(name)))).toBe(
          true,
        );
    } finally {
      await a.close();
      await b.close();
    }
  });

  it('refuses to resume with different options', async () => {
    const other = join(root, 'mismatch');
    await expect(
      quantizeAnyPrec({
        ...base,
        out: other,
        onProgress: () => {
          throw new Error('stop');
        },
      }),
    ).rejects.toThrow('stop');
    await expect(quantizeAnyPrec({ ...base, seed: 6, out: other })).rejects.toThrow(/other options/);
  });
});
