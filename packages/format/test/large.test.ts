// Files beyond 4 GiB: a sparse file (no disk space used) whose second tensor starts past
// 2^32, and a mocked 2^44-byte source; offsets must stay exact (Numbers up to 2^53).
import { mkdtempSync, rmSync } from 'node:fs';
import { open } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, expect, it } from 'vitest';
import {
  type ByteSource,
  openModel,
  openSafetensors,
  openSafetensorsSource,
  serializeSafetensorsHeader,
} from '../src/node.js';

const work = mkdtempSync(join(tmpdir(), 'anyprec-large-'));
afterAll(() => rmSync(work, { recursive: true, force: true }));

const BIG = 4.5 * 2 ** 30; // 4.5 GiB of U8, never written

it('reads a tensor that starts beyond 4 GiB in a sparse file (positional read)', async () => {
  const { bytes, offsets } = serializeSafetensorsHeader(
    [
      { name: 'big', dtype: 'U8', shape: [BIG] },
      { name: 'tail', dtype: 'F32', shape: [4] },
    ],
    { format: 'pt' },
  );
  expect(offsets[1]).toBe(BIG);
  const path = join(work, 'model.safetensors');
  const h = await open(path, 'w');
  await h.write(bytes, 0, bytes.length, 0);
  const tail = Float32Array.of(1, -2, 3.5, 4e9);
  await h.write(new Uint8Array(tail.buffer), 0, 16, bytes.length + BIG);
  await h.close();

  const f = await openSafetensors(path);
  try {
    const t = f.tensors.get('tail')!;
    expect(t.offset).toBe(bytes.length + BIG);
    expect(t.offset).toBeGreaterThan(2 ** 32);
    expect(Array.from(await f.readTensorF32('tail'))).toEqual(Array.from(tail));
    // a range inside the sparse tensor past 4 GiB reads zeros without reading the rest
    expect(Array.from(await f.readTensorRange('big', 2 ** 32 + 7, 3))).toEqual([0, 0, 0]);
  } finally {
    await f.close();
  }
  const m = await openModel(path).catch((e: Error) => e);
  expect((m as Error).message).toMatch(/config.json is missing/);
});

it('a mocked 16 TiB source: header parsing and reads use exact offsets', async () => {
  const size = 2 ** 44;
  const header = serializeSafetensorsHeader(
    [
      { name: 'huge', dtype: 'BF16', shape: [2 ** 43 - 16] },
      { name: 'last', dtype: 'U32', shape: [2] },
    ],
    {},
  );
  const total = header.bytes.length + header.dataBytes;
  const reads: [number, number][] = [];
  const source: ByteSource = {
    name: 'mock',
    size: total,
    async read(offset, length) {
      reads.push([offset, length]);
      if (offset < header.bytes.length) return header.bytes.slice(offset, offset + length);
      const out = new Uint8Array(length);
      const dv = new DataView(out.buffer);
      for (let i = 0; i + 4 <= length; i += 4) dv.setUint32(i, (offset + i) % 2 ** 32, true);
      return out;
    },
    async close() {},
  };
  expect(total).toBe(header.bytes.length + size - 32 + 8);
  const f = await openSafetensorsSource(source);
  const last = f.tensors.get('last')!;
  expect(last.offset).toBe(header.bytes.length + 2 ** 44 - 32);
  const got = new Uint32Array((await f.readTensor('last')).buffer);
  expect(Array.from(got)).toEqual([last.offset % 2 ** 32, (last.offset + 4) % 2 ** 32]);
  expect(reads.at(-1)).toEqual([last.offset, 8]);
  expect(Math.max(...reads.map((r) => r[1]))).toBeLessThan(1024);
});
