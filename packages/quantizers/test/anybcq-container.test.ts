// End-to-end AnyBCQ on the repo's tiny model: container layout (read back with the format
// package's reference dequantizer), weight error against the original weights and an
// independent RTN written here, perplexity against the unquantized model, determinism per
// seed and resume after an interruption. Needs the native CPU addon.
import { existsSync, mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { dequantizeBcq, viewAs } from '@anyprec/format';
import { openModel } from '@anyprec/format/node';
import { cpuInfo } from '@anyprec/kernels-cpu';
import { loadModel } from '@anyprec/runtime';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { type AnyBcqOptions, quantizeAnyBcq } from '../src/anybcq/index.js';

const repo = fileURLToPath(new URL('../../..', import.meta.url));
const tiny = join(repo, 'models', 'tiny');
const calib = join(repo, '..', 'shared', 'data', 'calib.jsonl');
const ready = cpuInfo().available && existsSync(join(tiny, 'model.safetensors')) && existsSync(calib);

/** Asymmetric min-max round-to-nearest with groups along the row (independent oracle). */
function rtnError(w: Float32Array, rows: number, cols: number, bits: number, g: number): number {
  let err = 0;
  const levels = (1 << bits) - 1;
  for (let r = 0; r < rows; r++) {
    for (let c0 = 0; c0 < cols; c0 += g) {
      const end = Math.min(cols, c0 + g);
      let lo = Number.POSITIVE_INFINITY;
      let hi = Number.NEGATIVE_INFINITY;
      for (let c = c0; c < end; c++) {
        lo = Math.min(lo, w[r * cols + c]);
        hi = Math.max(hi, w[r * cols + c]);
      }
      const step = (hi - lo) / levels || 1;
      for (let c = c0; c < end; c++) {
        const q = Math.round((w[r * cols + c] - lo) / step);
        err += (lo + q * step - w[r * cols + c]) ** 2;
      }
    }
  }
  return err;
}

/** FNV-1a hash of every stored tensor's bytes, by name. */
async function checksums(dir: string): Promise<Record<string, number>> {
  const m = await openModel(dir);
  try {
    const out: Record<string, number> = {};
    for (const name of [...m.tensors.keys()].sort()) {
      const bytes = await m.readTensor(name);
      let h = 0x811c9dc5;
      for (let i = 0; i < bytes.length; i++) h = Math.imul(h ^ bytes[i], 0x01000193) >>> 0;
      out[name] = h;
    }
    return out;
  } finally {
    await m.close();
  }
}

describe.skipIf(!ready)('quantizeAnyBcq on models/tiny', () => {
  const dir = mkdtempSync(join(tmpdir(), 'anybcq-test-'));
  const base: AnyBcqOptions = { model: tiny, out: join(dir, 'a'), calib, samples: 4, seqLen: 128, seed: 0 };
  let first: Awaited<ReturnType<typeof quantizeAnyBcq>>;

  beforeAll(async () => {
    first = await quantizeAnyBcq(base);
  }, 120_000);
  afterAll(() => rmSync(dir, { recursive: true, force: true }));

  it('writes a layout-v1 container serving widths 2..4', async () => {
    expect(first.precisions).toEqual([2, 3, 4]);
    const m = await openModel(base.out);
    const src = await openModel(tiny);
    try {
      const man = m.manifest!;
      expect(man.method).toBe('anybcq');
      expect(man.parentBits).toBe(4);
      expect(man.precisions).toEqual([2, 3, 4]);
      expect(man.groupSize).toBe(128);
      expect(man.offsets).toBe(true);
      expect(man.quantized.length).toBe(4 * 7);
      for (const name of man.quantized) {
        const [rows, cols] = src.tensors.get(`${name}.weight`)!.shape;
        expect(m.tensors.has(`${name}.weight`)).toBe(false);
        expect(m.tensors.get(`${name}.planes`)!.shape).toEqual([4, rows, cols / 32]);
        expect(m.tensors.get(`${name}.planes`)!.dtype).toBe('U32');
        for (const b of [2, 3, 4]) {
          expect(m.tensors.get(`${name}.scales${b}`)!.shape).toEqual([rows, Math.ceil(cols / 128), b]);
          expect(m.tensors.get(`${name}.offsets${b}`)!.shape).toEqual([rows, Math.ceil(cols / 128)]);
        }
      }
      // Everything else is passed through byte for byte.
      for (const name of [
        'model.embed_tokens.weight',
        'model.norm.weight',
        'model.layers.0.input_layernorm.weight',
      ]) {
        expect(Buffer.from(await m.readTensor(name)).equals(Buffer.from(await src.readTensor(name)))).toBe(
          true,
        );
      }
    } finally {
      await m.close();
      await src.close();
    }
  });

  it('reconstructs every linear better with more bits, and far better than RTN at 2 bits', async () => {
    const m = await openModel(base.out);
    const src = await openModel(tiny);
    try {
      for (const name of m.manifest!.quantized) {
        const w = await src.readTensorF32(`${name}.weight`);
        const [rows, cols] = src.tensors.get(`${name}.weight`)!.shape;
        const planes = viewAs(await m.readTensor(`${name}.planes`), 'u32');
        const errs: number[] = [];
        for (const b of [2, 3, 4]) {
          const scales = viewAs(await m.readTensor(`${name}.scales${b}`), 'u16');
          const offsets = viewAs(await m.readTensor(`${name}.offsets${b}`), 'u16');
          const wq = dequantizeBcq(planes, scales, offsets, rows, cols, b, 128);
          errs.push(wq.reduce((s, v, i) => s + (v - w[i]) ** 2, 0));
        }
        expect(errs[1]).toBeLessThan(errs[0]);
        expect(errs[2]).toBeLessThan(errs[1]);
        expect(errs[0]).toBeLessThan(0.75 * rtnError(w, rows, cols, 2, 128));
      }
    } finally {
      await m.close();
      await src.close();
    }
  });

  it('loads in the runtime with perplexity falling 2 > 3 > 4 bits and 4 bits near full precision', async () => {
    const fp = await loadModel(tiny, { backend: 'cpu' });
    const q = await loadModel(base.out, { backend: 'cpu' });
    // A calibration-file excerpt as evaluation text keeps this test off the held-out dev split.
    const text = JSON.parse(readFileSync(calib, 'utf8').split('\n')[1]).text as string;
    const tokens = [0, ...fp.tokenizer.encode(text)].slice(0, 2049);
    const ref = (await fp.perplexity(tokens, { windowTokens: 512 })).ppl;
    const ppl = [];
    for (const b of [2, 3, 4])
      ppl.push((await q.perplexity(tokens, { windowTokens: 512, precision: b })).ppl);
    expect(ppl[0]).toBeGreaterThan(ppl[1]);
    expect(ppl[1]).toBeGreaterThan(ppl[2]);
    expect(ppl[2]).toBeLessThan(ref * 1.05);
  });

  it('resumes an interrupted run per layer, bit for bit like an uninterrupted run (deterministic per seed)', async () => {
    const out = join(dir, 'b');
    const stop = new Error('interrupted');
    await expect(
      quantizeAnyBcq({
        ...base,
        out,
        onProgress: (p) => {
          if (p.layersDone === 2) throw stop;
        },
      }),
    ).rejects.toBe(stop);
    const resumed = await quantizeAnyBcq({ ...base, out });
    expect(resumed.resumedLayers).toBe(2);
    expect(await checksums(out)).toEqual(await checksums(base.out));
    expect(
      readFileSync(join(out, 'model.safetensors')).equals(readFileSync(join(base.out, 'model.safetensors'))),
    ).toBe(true);
  });

  it('depends on the calibration seed', async () => {
    const other = join(dir, 'c');
    await quantizeAnyBcq({ ...base, out: other, seed: 1 });
    expect(await checksums(other)).not.toEqual(await checksums(base.out));
  });

  it("the default codeSelection 'gptq' keeps the 2-bit model of 'data-free' bit for bit and changes only the expansion planes", async () => {
    expect(first.settings.codeSelection).toBe('gptq');
    expect(first.settings.gptqPlanes).toBe('joint');
    expect(first.settings.actOrder).toBe(true);
    const out = join(dir, 'data-free');
    const df = await quantizeAnyBcq({ ...base, out, codeSelection: 'data-free' });
    const a = await openModel(out);
    const m = await openModel(base.out);
    try {
      let changed = 0;
      let total = 0;
      for (const name of [...a.tensors.keys()].filter((n) => n.endsWith('.planes'))) {
        const lin = name.slice(0, -'.planes'.length);
        const pa = viewAs(await a.readTensor(name), 'u32');
        const pg = viewAs(await m.readTensor(name), 'u32');
        const per = pa.length / 4; // [4 planes, rows, cols/32]
        expect(pg.subarray(0, 2 * per)).toEqual(pa.subarray(0, 2 * per));
        for (let i = 2 * per; i < pa.length; i++) if (pa[i] !== pg[i]) changed++;
        total += 2 * per;
        for (const t of ['scales2', 'offsets2'])
          expect(Buffer.from(await m.readTensor(`${lin}.${t}`))).toEqual(
            Buffer.from(await a.readTensor(`${lin}.${t}`)),
          );
      }
      expect(changed).toBeGreaterThan(total * 0.01);
    } finally {
      await a.close();
      await m.close();
    }
    // the activation-weighted output error on calibration inputs falls at the widths it changes
    for (const b of [3, 4]) expect(first.outputError[b].block!).toBeLessThan(df.outputError[b].block!);
    expect(first.outputError[2].block).toBe(df.outputError[2].block);
  });
});
