// Writing and reading containers end to end on the embedded tiny model: the quantized
// data are synthetic (fixed codes and tables), the checks compare bytes read back with
// the bytes given, plane prefixes with the parent, checksums with node:zlib, and sizes
// with hand-computed totals.
import { mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { crc32 as zlibCrc32 } from 'node:zlib';
import { afterAll, describe, expect, it } from 'vitest';
import {
  ArgumentError,
  bytesPerToken,
  ChecksumMismatchError,
  extractPrecision,
  lutName,
  ManifestError,
  MissingTensorError,
  offsetsName,
  openModel,
  openSafetensors,
  parseManifest,
  planesName,
  SafetensorsWriter,
  ShardIndexError,
  scalesName,
  UnsupportedVersionError,
  verifyModel,
  writeContainerDir,
  writeSafetensors,
  writeSafetensorsSharded,
} from '../src/node.js';

const TINY = new URL('../../../models/tiny', import.meta.url).pathname;
const work = mkdtempSync(join(tmpdir(), 'anyprec-format-test-'));
afterAll(() => rmSync(work, { recursive: true, force: true }));

interface Layer {
  base: string;
  rows: number;
  cols: number;
}

async function tinyLayers(): Promise<Layer[]> {
  const m = await openModel(TINY);
  const layers = [...m.tensors.values()]
    .filter((t) => /\.(q|k|v|o|gate|up|down)_proj\.weight$/.test(t.name))
    .map((t) => ({ base: t.name.slice(0, -'.weight'.length), rows: t.shape[0], cols: t.shape[1] }));
  await m.close();
  return layers;
}

// deterministic synthetic bytes per tensor name and size
function bytesFor(name: string, byteLength: number): Uint8Array {
  let s = zlibCrc32(Buffer.from(name));
  const out = new Uint8Array(byteLength);
  for (let i = 0; i < byteLength; i++) {
    s = (Math.imul(s, 1103515245) + 12345) >>> 0;
    out[i] = s >>> 24;
  }
  return out;
}

function quantizedBytes(layers: Layer[], parentBits: number, groupSize = 128) {
  const byBase = new Map(layers.map((l) => [l.base, l]));
  return (name: string): Uint8Array | undefined => {
    const m = /^(.*)\.(planes|lut(\d)|scales(\d)|offsets(\d))$/.exec(name);
    if (!m) return undefined;
    const l = byBase.get(m[1])!;
    const groups = Math.ceil(l.cols / groupSize);
    const n =
      m[2] === 'planes'
        ? parentBits * l.rows * (l.cols / 32) * 4
        : m[3]
          ? l.rows * 2 ** Number(m[3]) * 2
          : m[4]
            ? l.rows * groups * Number(m[4]) * 2
            : l.rows * groups * 2;
    return bytesFor(name, n);
  };
}

describe('writeContainerDir (anyprec) + openModel', () => {
  const out = join(work, 'ap');
  let layers: Layer[];

  it('writes a directory that opens, validates and verifies; tensors read back bit-exactly', async () => {
    layers = await tinyLayers();
    expect(layers.length).toBe(4 * 7);
    const data = quantizedBytes(layers, 4);
    const manifest = await writeContainerDir({
      outDir: out,
      sourceDir: TINY,
      method: 'anyprec',
      parentBits: 4,
      precisions: [2, 3, 4],
      seedBits: 2,
      layers,
      quantizer: { calibration: 'test' },
      getData: data,
    });
    expect(readdirSync(out).sort()).toEqual([
      'config.json',
      'generation_config.json',
      'model.safetensors',
      'tokenizer.json',
      'tokenizer_config.json',
    ]);
    // tokenizer files copied unchanged and recorded with zlib-checked CRCs
    for (const f of ['tokenizer.json', 'tokenizer_config.json']) {
      const bytes = readFileSync(join(TINY, f));
      expect(readFileSync(join(out, f)).equals(bytes)).toBe(true);
      expect(manifest.tokenizer.files.find((x) => x.name === f)).toEqual({
        name: f,
        bytes: bytes.length,
        crc32: zlibCrc32(bytes).toString(16).padStart(8, '0'),
      });
    }
    expect(
      readFileSync(join(out, 'generation_config.json')).equals(
        readFileSync(join(TINY, 'generation_config.json')),
      ),
    ).toBe(true);
    const config = JSON.parse(readFileSync(join(out, 'config.json'), 'utf8'));
    expect(config.quantization_config).toEqual({
      quant_method: 'anyprec',
      format: 'anyprec-format',
      format_version: '1.0',
      bits: 4,
      precisions: [2, 3, 4],
      seed_bits: 2,
    });
    expect(config.hidden_size).toBe(256);

    const m = await openModel(out);
    const src = await openModel(TINY);
    try {
      expect(m.manifest).toMatchObject({
        method: 'anyprec',
        parentBits: 4,
        precisions: [2, 3, 4],
        seedBits: 2,
        quantizer: { calibration: 'test' },
      });
      expect(m.config).toEqual(src.config);
      expect(m.tensors.size).toBe(src.tensors.size - layers.length + layers.length * 4);
      for (const l of layers) {
        expect(m.tensors.has(`${l.base}.weight`)).toBe(false);
        expect(m.tensors.get(planesName(l.base))).toMatchObject({
          dtype: 'U32',
          shape: [4, l.rows, l.cols / 32],
        });
        expect(m.tensors.get(lutName(l.base, 3))).toMatchObject({ dtype: 'F16', shape: [l.rows, 8] });
      }
      const q = layers[5];
      expect(
        Buffer.from(await m.readTensor(planesName(q.base))).equals(Buffer.from(data(planesName(q.base))!)),
      ).toBe(true);
      // prefix read of width 2 is the first half of the 4 planes
      const prefix = await m.readTensorRange(planesName(q.base), 0, 2 * q.rows * (q.cols / 32) * 4);
      expect(
        Buffer.from(prefix).equals(Buffer.from(data(planesName(q.base))!.subarray(0, prefix.length))),
      ).toBe(true);
      // passthrough tensors identical to the source
      for (const name of [
        'model.embed_tokens.weight',
        'model.norm.weight',
        'model.layers.2.input_layernorm.weight',
      ]) {
        expect(Buffer.from(await m.readTensor(name)).equals(Buffer.from(await src.readTensor(name)))).toBe(
          true,
        );
      }
      // checksums in the file agree with node:zlib
      for (const t of m.tensors.values())
        expect(m.manifest!.checksums[t.name]).toBe(
          zlibCrc32(await m.readTensor(t.name))
            .toString(16)
            .padStart(8, '0'),
        );
      await verifyModel(m);
    } finally {
      await m.close();
      await src.close();
    }
  });

  it('bytesPerToken: planes prefix + width-b tables + dense tensors (hand-computed)', async () => {
    const m = await openModel(out);
    try {
      const Q = layers.reduce((a, l) => a + l.rows * l.cols, 0);
      const R = layers.reduce((a, l) => a + l.rows, 0);
      const dense = [...m.tensors.values()]
        .filter((t) => !/\.(planes|lut\d)$/.test(t.name))
        .reduce((a, t) => a + t.byteLength, 0);
      for (const b of [2, 3, 4]) {
        const got = bytesPerToken(m.manifest, m.tensors, b);
        expect(got).toEqual({
          precision: b,
          planes: (b * Q) / 8,
          tables: 2 * R * 2 ** b,
          dense,
          embeddingRow: 0,
          total: (b * Q) / 8 + 2 * R * 2 ** b + dense,
        });
      }
      expect(() => bytesPerToken(m.manifest, m.tensors, 5)).toThrow(
        /precision 5 is not served by this container \(serves 2, 3, 4\)/,
      );
      // untied: one embedding row instead of the matrix
      const untied = bytesPerToken(m.manifest, m.tensors, 2, { tieWordEmbeddings: false });
      const emb = m.tensors.get('model.embed_tokens.weight')!;
      expect(untied.embeddingRow).toBe(emb.byteLength / emb.shape[0]);
      expect(untied.dense).toBe(dense - emb.byteLength);
    } finally {
      await m.close();
    }
  });

  it('extractPrecision(3) writes a standalone 3-bit container: first 3 planes, lut3 only', async () => {
    const out3 = join(work, 'ap3');
    await extractPrecision(out, out3, 3);
    const p = await openModel(out);
    const e = await openModel(out3);
    try {
      expect(e.manifest).toMatchObject({ parentBits: 3, precisions: [3], seedBits: 2, method: 'anyprec' });
      await verifyModel(e);
      for (const l of layers.slice(0, 3)) {
        const planes = await e.readTensor(planesName(l.base));
        expect(e.tensors.get(planesName(l.base))!.shape).toEqual([3, l.rows, l.cols / 32]);
        expect(
          Buffer.from(planes).equals(
            Buffer.from((await p.readTensor(planesName(l.base))).subarray(0, planes.length)),
          ),
        ).toBe(true);
        expect(
          Buffer.from(await e.readTensor(lutName(l.base, 3))).equals(
            Buffer.from(await p.readTensor(lutName(l.base, 3))),
          ),
        ).toBe(true);
        expect(e.tensors.has(lutName(l.base, 2))).toBe(false);
        expect(e.tensors.has(lutName(l.base, 4))).toBe(false);
      }
      expect(bytesPerToken(e.manifest, e.tensors, 3).total).toBe(
        bytesPerToken(p.manifest, p.tensors, 3).total,
      );
      expect(JSON.parse(readFileSync(join(out3, 'config.json'), 'utf8')).quantization_config).toMatchObject({
        bits: 3,
        precisions: [3],
      });
      await expect(extractPrecision(out, join(work, 'nope'), 1)).rejects.toThrow(/precision 1 is not served/);
    } finally {
      await p.close();
      await e.close();
    }
  });

  it('ChecksumMismatchError when a byte of a tensor changes; verifyModel names the tensor', async () => {
    const bad = join(work, 'ap-corrupt');
    await extractPrecision(out, bad, 2);
    const file = join(bad, 'model.safetensors');
    const f = await openSafetensors(file);
    const t = f.tensors.get(planesName(layers[0].base))!;
    await f.close();
    const bytes = readFileSync(file);
    bytes[t.offset + 5] ^= 0x10;
    writeFileSync(file, bytes);
    const m = await openModel(bad); // structure is still valid
    try {
      let err: unknown;
      await verifyModel(m).catch((e) => {
        err = e;
      });
      expect(err).toBeInstanceOf(ChecksumMismatchError);
      expect((err as Error).message).toContain(`tensor "${t.name}" has CRC-32`);
      expect((err as Error).message).toMatch(/but the manifest records [0-9a-f]{8}; the file is corrupt/);
    } finally {
      await m.close();
    }
    await expect(extractPrecision(bad, join(work, 'ap-corrupt-2'), 2)).rejects.toThrow(ChecksumMismatchError);
  });
});

describe('anybcq container', () => {
  it('writes scales<b>/offsets<b> with the right shapes (ragged last group) and round-trips', async () => {
    const layers = (await tinyLayers()).slice(0, 7);
    const out = join(work, 'bcq');
    const data = quantizedBytes(layers, 3, 100);
    await writeContainerDir({
      outDir: out,
      sourceDir: TINY,
      method: 'anybcq',
      parentBits: 3,
      precisions: [2, 3],
      groupSize: 100,
      offsets: true,
      layers,
      getData: data,
    });
    const m = await openModel(out);
    try {
      const l = layers.find((x) => x.cols === 704)!; // down_proj: 704 inputs → 8 groups, last one of 4
      expect(m.tensors.get(scalesName(l.base, 3))).toMatchObject({ dtype: 'F16', shape: [l.rows, 8, 3] });
      expect(m.tensors.get(offsetsName(l.base, 2))).toMatchObject({ dtype: 'F16', shape: [l.rows, 8] });
      expect(
        Buffer.from(await m.readTensor(scalesName(l.base, 2))).equals(
          Buffer.from(data(scalesName(l.base, 2))!),
        ),
      ).toBe(true);
      expect(m.manifest).toMatchObject({ method: 'anybcq', groupSize: 100, offsets: true });
      const b = bytesPerToken(m.manifest, m.tensors, 2);
      const want = layers.reduce((a, x) => a + x.rows * Math.ceil(x.cols / 100) * (2 + 1) * 2, 0);
      expect(b.tables).toBe(want);
      await verifyModel(m);
    } finally {
      await m.close();
    }
  });

  it('rejects a layer whose shape disagrees with the source, and bad parameters', async () => {
    const [l] = await tinyLayers();
    const opts = {
      outDir: join(work, 'x'),
      sourceDir: TINY,
      method: 'anybcq' as const,
      parentBits: 3,
      precisions: [2, 3],
      groupSize: 128,
      offsets: false,
      getData: () => undefined,
    };
    await expect(writeContainerDir({ ...opts, layers: [{ ...l, rows: l.rows + 1 }] })).rejects.toThrow(
      /is \[257, 704\] but "model.layers.0.mlp.down_proj.weight" has shape \[256, 704\]/,
    );
    await expect(writeContainerDir({ ...opts, layers: [{ ...l, base: 'nope' }] })).rejects.toThrow(
      /layer "nope" has no "nope.weight"/,
    );
    await expect(writeContainerDir({ ...opts, precisions: [3, 2], layers: [l] })).rejects.toThrow(
      /ascending integers/,
    );
    await expect(writeContainerDir({ ...opts, layers: [l] })).rejects.toThrow(
      /getData returned nothing for quantized tensor/,
    );
  });
});

describe('manifest errors on open', () => {
  async function withManifest(
    edit: (m: Record<string, unknown>) => void,
    tensors?: (names: string[]) => string[],
  ) {
    const src = await openSafetensors(
      new URL('../fixtures/anyprec-2x32-p3.safetensors', import.meta.url).pathname,
    );
    const manifest = JSON.parse(src.metadata.anyprec);
    edit(manifest);
    const names = tensors ? tensors([...src.tensors.keys()]) : [...src.tensors.keys()];
    const dir = mkdtempSync(join(work, 'm-'));
    const list = [];
    for (const n of names) {
      const t = src.tensors.get(n)!;
      list.push({ name: n, dtype: t.dtype, shape: t.shape, data: await src.readTensor(n) });
    }
    await src.close();
    await writeSafetensors(join(dir, 'model.safetensors'), list, {
      format: 'pt',
      anyprec: JSON.stringify(manifest),
    });
    return join(dir, 'model.safetensors');
  }

  it('UnsupportedVersionError for a newer or foreign version', async () => {
    const p = await withManifest((m) => {
      m.version = '2.0';
    });
    await expect(openModel(p)).rejects.toThrow(UnsupportedVersionError);
    await expect(openModel(p)).rejects.toThrow(
      /anyprec-format version "2.0" is not supported \(this reader handles 1.0\); upgrade @anyprec\/format/,
    );
    const q = await withManifest((m) => {
      m.version = '1.1';
    });
    await expect(openModel(q)).rejects.toThrow(UnsupportedVersionError);
    expect(() => parseManifest(JSON.stringify({ format: 'gguf' }), 'f')).toThrow(
      /manifest format is "gguf", expected "anyprec-format"/,
    );
    // a newer minor field is ignored by this reader
    expect(
      parseManifest(
        JSON.stringify({
          ...JSON.parse('{}'),
          format: 'anyprec-format',
          version: '1.0',
          method: 'anyprec',
          layout: 'planes-u32-v1',
          precisions: [2],
          parentBits: 2,
          quantized: [],
          config: {},
          tokenizer: { files: [] },
          checksums: {},
          future: 1,
        }),
        'f',
      ).method,
    ).toBe('anyprec');
  });

  it('MissingTensorError for a required tensor that is absent, or has the wrong shape', async () => {
    const p = await withManifest(
      () => {},
      (names) => names.filter((n) => n !== 'layer.lut2'),
    );
    await expect(openModel(p)).rejects.toThrow(MissingTensorError);
    await expect(openModel(p)).rejects.toThrow(
      /method anyprec requires "layer.lut2" \(F16 \[2, 4\]\), which is missing/,
    );
    const q = await withManifest((m) => {
      m.parentBits = 4;
      m.precisions = [2, 3, 4];
    });
    await expect(openModel(q)).rejects.toThrow(
      /"layer.planes" must be U32 \[4, rows, cols\/32\], got U32 \[3, 2, 1\]/,
    );
    const r = await withManifest((m) => {
      (m.quantized as string[]).push('other');
    });
    await expect(openModel(r)).rejects.toThrow(/quantized layer "other" has no "other.planes" tensor/);
  });

  it('ManifestError for malformed fields and checksum bookkeeping', async () => {
    const p = await withManifest((m) => {
      m.precisions = [3, 2];
    });
    await expect(openModel(p)).rejects.toThrow(ManifestError);
    await expect(openModel(p)).rejects.toThrow(/manifest field "precisions" must be strictly ascending/);
    const q = await withManifest((m) => {
      delete (m.checksums as Record<string, string>)['norm.weight'];
    });
    await expect(openModel(q)).rejects.toThrow(/manifest has no checksum for tensor "norm.weight"/);
    const r = await withManifest((m) => {
      m.method = 'gptq';
    });
    await expect(openModel(r)).rejects.toThrow(
      /manifest field "method" must be "anyprec" or "anybcq", got "gptq"/,
    );
  });
});

describe('streaming writer', () => {
  it('writes tensors in any order; a failed or abandoned write leaves no file under the final name', async () => {
    const dir = mkdtempSync(join(work, 'w-'));
    const path = join(dir, 'a.safetensors');
    const w = await SafetensorsWriter.create(path, [
      { name: 'x', dtype: 'F32', shape: [2] },
      { name: 'y', dtype: 'U8', shape: [3] },
    ]);
    await w.write('y', new Uint8Array([7, 8, 9]));
    await expect(w.write('x', new Float32Array(3))).rejects.toThrow(
      /tensor "x" needs 8 bytes \(F32 \[2\]\), got 12/,
    );
    await expect(w.write('y', new Uint8Array(3))).rejects.toThrow(/already written/);
    await expect(w.write('z', new Uint8Array(3))).rejects.toThrow(/not in this file's plan/);
    await expect(w.close()).rejects.toThrow(/1 tensor\(s\) never written, first "x"/);
    expect(readdirSync(dir)).toEqual(['a.safetensors.partial']);
    await w.write('x', Float32Array.of(1.5, -2));
    const crcs = await w.close();
    expect(readdirSync(dir)).toEqual(['a.safetensors']);
    const f = await openSafetensors(path);
    expect(Array.from(await f.readTensorF32('x'))).toEqual([1.5, -2]);
    expect(Array.from(await f.readTensor('y'))).toEqual([7, 8, 9]);
    expect(crcs.y).toBe(
      zlibCrc32(new Uint8Array([7, 8, 9]))
        .toString(16)
        .padStart(8, '0'),
    );
    await f.close();

    // a getData that throws mid-way: the old file stays, no partial file remains
    await expect(
      writeSafetensorsSharded(dir, [{ name: 'q', dtype: 'U8', shape: [1] }], () => {
        throw new ArgumentError('gen', 'boom');
      }),
    ).rejects.toThrow(/boom/);
    expect(readdirSync(dir).sort()).toEqual(['a.safetensors']);
    const w2 = await SafetensorsWriter.create(path, [{ name: 'x', dtype: 'U8', shape: [1] }]);
    await w2.abort();
    expect(readdirSync(dir)).toEqual(['a.safetensors']);
  });

  it('shards by size, writes an index, and resume rewrites only missing or damaged shards', async () => {
    const dir = mkdtempSync(join(work, 's-'));
    const specs = Array.from({ length: 10 }, (_, i) => ({
      name: `t${i}`,
      dtype: 'F32' as const,
      shape: [64 + i],
    }));
    const gen = (name: string) => bytesFor(name, 4 * (64 + Number(name.slice(1))));
    const metadata = (crcs: Record<string, string>) => ({ format: 'pt', crcs: JSON.stringify(crcs) });
    const first = await writeSafetensorsSharded(dir, specs, gen, { maxShardBytes: 800, metadata });
    // sizes 256, 260, ..., 292 bytes; greedy under 800: [t0 t1 t2] [t3 t4] [t5 t6] [t7 t8] [t9]
    expect(first.files).toEqual([1, 2, 3, 4, 5].map((i) => `model-0000${i}-of-00005.safetensors`));
    const index = JSON.parse(readFileSync(join(dir, 'model.safetensors.index.json'), 'utf8'));
    expect(index.metadata.total_size).toBe(specs.reduce((a, s) => a + 4 * s.shape[0], 0));
    expect(index.weight_map.t2).toBe('model-00001-of-00005.safetensors');
    expect(index.weight_map.t3).toBe('model-00002-of-00005.safetensors');
    expect(index.weight_map.t9).toBe('model-00005-of-00005.safetensors');
    const originals = first.files.map((f) => readFileSync(join(dir, f)));

    // damage: delete shard 2, flip a data byte in shard 3, leave a stale partial file
    rmSync(join(dir, first.files[1]));
    const s3 = readFileSync(join(dir, first.files[2]));
    s3[s3.length - 1] ^= 1;
    writeFileSync(join(dir, first.files[2]), s3);
    writeFileSync(join(dir, `${first.files[3]}.partial`), 'junk');
    const calls: string[] = [];
    const second = await writeSafetensorsSharded(
      dir,
      specs,
      (n) => {
        calls.push(n);
        return gen(n);
      },
      { maxShardBytes: 800, metadata, resume: true },
    );
    expect(second.resumed).toEqual([first.files[0], first.files[3], first.files[4]]);
    const shardOf = (n: string) => index.weight_map[n];
    expect(calls.every((n) => shardOf(n) === first.files[1] || shardOf(n) === first.files[2])).toBe(true);
    expect(new Set(calls.map(shardOf))).toEqual(new Set([first.files[1], first.files[2]]));
    for (const [i, f] of first.files.entries())
      expect(readFileSync(join(dir, f)).equals(originals[i])).toBe(true);
    const m = await openSafetensors(join(dir, first.files[1]));
    expect(JSON.parse(m.metadata.crcs)[m.header.tensors[0].name]).toBe(
      zlibCrc32(gen(m.header.tensors[0].name)).toString(16).padStart(8, '0'),
    );
    await m.close();
  });
});

describe('sharded containers', () => {
  it('openModel merges per-shard checksums; index inconsistencies raise ShardIndexError', async () => {
    const layers = (await tinyLayers()).slice(0, 14);
    const out = join(work, 'sharded');
    await writeContainerDir({
      outDir: out,
      sourceDir: TINY,
      method: 'anyprec',
      parentBits: 3,
      precisions: [3],
      layers,
      getData: quantizedBytes(layers, 3),
      maxShardBytes: 2e6,
    });
    const files = readdirSync(out).filter((f) => f.endsWith('.safetensors'));
    expect(files.length).toBeGreaterThan(2);
    const m = await openModel(out);
    try {
      expect(m.files.length).toBe(files.length);
      expect(Object.keys(m.manifest!.checksums).length).toBe(m.tensors.size);
      // each shard's own manifest lists only its tensors
      for (const f of m.files)
        expect(Object.keys(JSON.parse(f.metadata.anyprec).checksums).sort()).toEqual(
          [...f.tensors.keys()].sort(),
        );
      await verifyModel(m);
    } finally {
      await m.close();
    }
    const indexPath = join(out, 'model.safetensors.index.json');
    const index = readFileSync(indexPath, 'utf8');
    const edit = async (fn: (ix: { weight_map: Record<string, string> }) => void, message: RegExp) => {
      const ix = JSON.parse(index);
      fn(ix);
      writeFileSync(indexPath, JSON.stringify(ix));
      await expect(openModel(out)).rejects.toThrow(ShardIndexError);
      await expect(openModel(out)).rejects.toThrow(message);
      writeFileSync(indexPath, index);
    };
    await edit((ix) => {
      ix.weight_map['model.norm.weight'] = '../../etc/passwd';
    }, /tensor "model.norm.weight" maps to "..\/..\/etc\/passwd", which is not a file name in this directory/);
    await edit((ix) => {
      ix.weight_map['model.extra'] = files[0];
    }, /tensor "model.extra" listed in model.safetensors.index.json is missing from the shard/);
    await edit((ix) => {
      delete ix.weight_map['model.norm.weight'];
    }, /tensor "model.norm.weight" is in model-\d+-of-\d+.safetensors but the index says nothing/);
    await expect(openModel(join(work, 'does-not-exist'))).rejects.toThrow(/does not exist/);
  });
});
