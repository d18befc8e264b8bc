// inspectModel (the data behind `anyprec inspect --json`) against headers parsed here with
// plain JSON, and against the hand-made container fixture.
import { existsSync, readFileSync } from 'node:fs';
import { expect, it } from 'vitest';
import { inspectModel } from '../src/node.js';

/** ../shared (models and data beside the checkout) exists in CI and on dev machines, not in every fresh clone. */
const HAS_SHARED = existsSync(new URL('../../../../shared/models/small/model.safetensors', import.meta.url));

const SMALL = new URL('../../../../shared/models/small', import.meta.url).pathname;

function rawHeader(path: string) {
  const buf = readFileSync(path);
  const n = Number(buf.readBigUInt64LE(0));
  return JSON.parse(buf.subarray(8, 8 + n).toString('utf8'));
}

it.skipIf(!HAS_SHARED)(
  'shared small model (skipped without ../shared): 74 BF16 tensors, shapes and bytes as in the raw header, no lm_head',
  async () => {
    const r = await inspectModel(SMALL);
    const raw = rawHeader(`${SMALL}/model.safetensors`);
    const names = Object.keys(raw).filter((k) => k !== '__metadata__');
    expect(r.kind).toBe('model');
    expect(r.tensorCount).toBe(74);
    expect(r.tensors.map((t) => t.name).sort()).toEqual(names.sort());
    expect(r.tensors.some((t) => t.name === 'lm_head.weight')).toBe(false);
    for (const t of r.tensors) {
      expect(t.dtype).toBe('BF16');
      expect(t.shape).toEqual(raw[t.name].shape);
      expect(t.bytes).toBe(raw[t.name].data_offsets[1] - raw[t.name].data_offsets[0]);
    }
    expect(r.metadata).toEqual(raw.__metadata__ ?? {});
    expect(r.config?.numLayers).toBe(8);
    expect(r.manifest).toBeNull();
    // tied head: every weight byte is read per token
    expect(r.bytesPerToken).toEqual([
      { precision: null, planes: 0, tables: 0, dense: r.totalBytes, embeddingRow: 0, total: r.totalBytes },
    ]);
    expect(JSON.parse(JSON.stringify(r))).toEqual(r);
  },
);

it('container file: served precisions with bytes per token (hand-computed for the 2x32 fixture)', async () => {
  const r = await inspectModel(new URL('../fixtures/anyprec-2x32-p3.safetensors', import.meta.url).pathname);
  expect(r.kind).toBe('container');
  expect(r.manifest).toMatchObject({
    method: 'anyprec',
    precisions: [2, 3],
    parentBits: 3,
    checksumCount: 4,
  });
  expect(r.config?.hiddenSize).toBe(32);
  // width b: b planes of 2 rows × 1 word × 4 bytes, lut<b> 2 rows × 2^b × 2 bytes, norm.weight 16 bytes
  expect(r.bytesPerToken.map((b) => [b.precision, b.planes, b.tables, b.dense, b.total])).toEqual([
    [2, 16, 16, 16, 48],
    [3, 24, 32, 16, 72],
  ]);
});
