import { existsSync, readFileSync } from 'node:fs';
import { describe, expect, it } from 'vitest';
import { openModel } from '../src/node.js';

/** ../shared (models and data beside the checkout) exists in CI and on dev machines, not in every fresh clone. */
const HAS_SHARED = existsSync(new URL('../../../../shared/models/small/model.safetensors', import.meta.url));

const SMALL = new URL('../../../../shared/models/small', import.meta.url).pathname;
const TINY = new URL('../../../models/tiny', import.meta.url).pathname;

// independent oracle: parse the header with plain JSON and DataView, no library code
function rawHeader(path: string) {
  const buf = readFileSync(path);
  const n = Number(buf.readBigUInt64LE(0));
  const json = JSON.parse(buf.subarray(8, 8 + n).toString('utf8'));
  return { buf, n, json };
}

describe('openModel on the shared HF models', () => {
  it.skipIf(!HAS_SHARED)(
    'small (skipped without ../shared): 74 BF16 tensors, tied head, shapes from config',
    async () => {
      const m = await openModel(SMALL);
      try {
        expect(m.tensors.size).toBe(74);
        expect(m.tensors.has('lm_head.weight')).toBe(false);
        expect(m.manifest).toBeNull();
        for (const t of m.tensors.values()) expect(t.dtype).toBe('BF16');
        expect(m.tensors.get('model.embed_tokens.weight')!.shape).toEqual([8192, 512]);
        expect(m.tensors.get('model.layers.3.self_attn.k_proj.weight')!.shape).toEqual([4 * 64, 512]);
        expect(m.tensors.get('model.layers.7.mlp.down_proj.weight')!.shape).toEqual([512, 1408]);
        expect(m.tensors.get('model.norm.weight')!.shape).toEqual([512]);
        expect(m.config).toMatchObject({
          architecture: 'LlamaForCausalLM',
          numLayers: 8,
          numHeads: 8,
          numKvHeads: 4,
          headDim: 64,
          tieWordEmbeddings: true,
          dtype: 'bfloat16',
          eosTokenIds: [1],
          bosTokenId: 0,
        });
        expect(m.generationConfig).toEqual({ bos_token_id: 0, eos_token_id: 1, do_sample: false });
        expect((await m.readTextFile('tokenizer_config.json'))?.length).toBeGreaterThan(10);
        expect(await m.readTextFile('chat_template.jinja')).toBeNull();
      } finally {
        await m.close();
      }
    },
  );

  it('tiny (F16): readTensor returns exactly the bytes at the header offsets; readTensorF32 widens f16', async () => {
    const path = `${TINY}/model.safetensors`;
    const { buf, n, json } = rawHeader(path);
    const m = await openModel(TINY);
    try {
      for (const name of ['model.norm.weight', 'model.layers.1.mlp.up_proj.weight']) {
        const [b, e] = json[name].data_offsets;
        const want = buf.subarray(8 + n + b, 8 + n + e);
        const got = await m.readTensor(name);
        expect(Buffer.from(got).equals(want)).toBe(true);
        const f = await m.readTensorF32(name);
        expect(m.tensors.get(name)!.dtype).toBe('F16');
        // oracle: IEEE half by its definition, (-1)^s 2^(e-15) (1 + m/1024), subnormal 2^-14 m/1024
        for (let i = 0; i < Math.min(f.length, 2000); i++) {
          const u = want.readUInt16LE(2 * i);
          const s = u >> 15 ? -1 : 1;
          const e = (u >> 10) & 31;
          const mant = u & 1023;
          const ref = e === 0 ? s * 2 ** -14 * (mant / 1024) : s * 2 ** (e - 15) * (1 + mant / 1024);
          expect(f[i]).toBe(ref);
        }
      }
      const range = await m.readTensorRange('model.norm.weight', 2, 6);
      expect(Array.from(range)).toEqual(Array.from(await m.readTensor('model.norm.weight')).slice(2, 8));
    } finally {
      await m.close();
    }
  });
});
