// Fisher-weighted quantization of tiny through the runtime's backward pass (a few short
// calibration sequences, so it stays light): the sensitivities are used (the exact seed
// minimises the Fisher-weighted error better than the unweighted one does), cached and reused.
import { existsSync, mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { openModel } from '@anyprec/format/node';
import { cpuInfo } from '@anyprec/kernels-cpu';
import { afterAll, describe, expect, it } from 'vitest';
import { type AnyPrecProgress, quantizeAnyPrec } from '../src/index.js';

const TINY = fileURLToPath(new URL('../../../models/tiny', import.meta.url));
const CALIB = fileURLToPath(new URL('../../../../shared/data/calib.jsonl', import.meta.url));
const ready = cpuInfo().available && existsSync(CALIB);

function halfToFloat(h: number): number {
  const s = h & 0x8000 ? -1 : 1;
  const e = (h >> 10) & 0x1f;
  const m = h & 0x3ff;
  if (e === 0) return s * m * 2 ** -24;
  return s * (1 + m / 1024) * 2 ** (e - 15);
}

/** Fisher-weighted squared error of width `bits` of one quantized linear. */
async function weightedError(
  dir: string,
  base: string,
  original: Float32Array,
  fisher: Float32Array,
  bits: number,
): Promise<number> {
  const m = await openModel(dir);
  try {
    const [P, rows, words] = m.tensors.get(`${base}.planes`)!.shape;
    const cols = words * 32;
    const pb = await m.readTensor(`${base}.planes`);
    const planes = new Uint32Array(pb.buffer.slice(pb.byteOffset, pb.byteOffset + pb.byteLength));
    const lb = await m.readTensor(`${base}.lut${bits}`);
    const lut = new Uint16Array(lb.buffer.slice(lb.byteOffset, lb.byteOffset + lb.byteLength));
    let e = 0;
    for (let r = 0; r < rows; r++) {
      for (let c = 0; c < cols; c++) {
        let idx = 0;
        for (let p = 0; p < bits; p++)
          idx = (idx << 1) | ((planes[(p * rows + r) * words + (c >> 5)] >>> (c & 31)) & 1);
        const i = r * cols + c;
        e += fisher[i] * (original[i] - halfToFloat(lut[(r << bits) + idx])) ** 2;
      }
    }
    expect(P).toBe(4);
    return e;
  } finally {
    await m.close();
  }
}

describe.skipIf(!ready)('quantizeAnyPrec with Fisher sensitivities (tiny, 4 x 64 tokens)', () => {
  const root = mkdtempSync(join(tmpdir(), 'anyprec-f-'));
  afterAll(() => rmSync(root, { recursive: true, force: true }));
  const cache = join(root, 'fisher');
  const common = {
    model: TINY,
    calib: CALIB,
    samples: 4,
    seqLen: 64,
    seedBits: 3,
    maxBits: 4,
    seedInit: 'optimal' as const,
    include: ['layers.1.'],
  };

  it('uses, caches and reuses the Fisher diagonal', async () => {
    const first: AnyPrecProgress[] = [];
    await quantizeAnyPrec({
      ...common,
      out: join(root, 'a'),
      sensitivityCache: cache,
      onProgress: (e) => first.push(e),
    });
    expect(first.some((e) => e.kind === 'stage' && e.message.startsWith('calibration'))).toBe(true);
    await quantizeAnyPrec({ ...common, out: join(root, 'unit'), sensitivity: 'unit' });

    const src = await openModel(TINY);
    try {
      let fisherWins = 0;
      const bases = [
        'model.layers.1.mlp.down_proj',
        'model.layers.1.self_attn.q_proj',
        'model.layers.1.mlp.up_proj',
      ];
      for (const base of bases) {
        const bytes = readFileSync(join(cache, `${base}.f32`));
        const fisher = new Float32Array(
          bytes.buffer.slice(bytes.byteOffset, bytes.byteOffset + bytes.byteLength),
        );
        const original = await src.readTensorF32(`${base}.weight`);
        expect(fisher.length).toBe(original.length);
        expect(fisher.every((v) => v >= 0 && Number.isFinite(v))).toBe(true);
        expect(fisher.some((v) => v > 0)).toBe(true);
        const withFisher = await weightedError(join(root, 'a'), base, original, fisher, 3);
        const unweighted = await weightedError(join(root, 'unit'), base, original, fisher, 3);
        if (withFisher < unweighted) fisherWins++;
      }
      expect(fisherWins).toBe(bases.length);
    } finally {
      await src.close();
    }

    // second run: no calibration, same result
    const second: AnyPrecProgress[] = [];
    await quantizeAnyPrec({
      ...common,
      out: join(root, 'b'),
      sensitivityCache: cache,
      onProgress: (e) => second.push(e),
    });
    expect(second.some((e) => e.kind === 'stage' && e.message.startsWith('calibration'))).toBe(false);
    expect(
      readFileSync(join(root, 'b', 'model.safetensors')).equals(
        readFileSync(join(root, 'a', 'model.safetensors')),
      ),
    ).toBe(true);

    // the cache holds every decoder linear, so another selection reuses it too
    const third: AnyPrecProgress[] = [];
    await quantizeAnyPrec({
      ...common,
      include: ['layers.2.'],
      out: join(root, 'd'),
      sensitivityCache: cache,
      onProgress: (e) => third.push(e),
    });
    expect(third.some((e) => e.kind === 'stage' && e.message.startsWith('calibration'))).toBe(false);

    // a cache made with another calibration is refused
    await expect(
      quantizeAnyPrec({ ...common, samples: 3, out: join(root, 'c'), sensitivityCache: cache }),
    ).rejects.toThrow(/another calibration/);
  });
});
