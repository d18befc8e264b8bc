// Files written by this package for tools/check_safetensors.py (Python `safetensors` opens
// them and compares every tensor bit-exactly). They are committed under fixtures/pycheck;
// this test rewrites them into a temp dir and requires byte identity, so the checked files
// always match what the current writer produces. Regenerate after an intended change with
//   UPDATE_PYCHECK=1 npx vitest run test/pycheck-files.test.ts
import { mkdirSync, mkdtempSync, readdirSync, readFileSync, rmSync, statSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, relative } from 'node:path';
import { afterAll, expect, it } from 'vitest';
import {
  type DType,
  f32ToBf16,
  f32ToF16,
  packPlanes,
  packSigns,
  writeContainerDir,
  writeFileAtomic,
  writeSafetensors,
} from '../src/node.js';

const FIXTURES = new URL('../fixtures/pycheck', import.meta.url).pathname;
const work = mkdtempSync(join(tmpdir(), 'anyprec-pycheck-'));
afterAll(() => rmSync(work, { recursive: true, force: true }));

function lcg(seed: number) {
  let s = seed >>> 0;
  return () => {
    s = (Math.imul(s, 1664525) + 1013904223) >>> 0;
    return s;
  };
}

/** A plain file with every dtype, a scalar and an empty tensor. */
async function writeDtypes(path: string) {
  const rnd = lcg(1);
  const floats = (n: number) => Float32Array.from({ length: n }, () => (rnd() / 2 ** 32 - 0.5) * 10);
  const ints = <T extends { length: number }>(
    ctor: new (n: number) => T,
    n: number,
    f: (x: number) => number | bigint,
  ) => {
    const a = new ctor(n) as unknown as { [i: number]: number | bigint };
    for (let i = 0; i < n; i++) a[i] = f(rnd());
    return a as unknown as ArrayBufferView;
  };
  const t = (name: string, dtype: DType, shape: number[], data: ArrayBufferView) => ({
    name,
    dtype,
    shape,
    data,
  });
  await writeSafetensors(
    path,
    [
      t(
        'f64',
        'F64',
        [2, 3],
        Float64Array.from(floats(6), (x) => x / 3),
      ),
      t('f32', 'F32', [3, 4], floats(12)),
      t('f16', 'F16', [5], f32ToF16(floats(5))),
      t('bf16', 'BF16', [2, 2, 2], f32ToBf16(floats(8))),
      t(
        'i8',
        'I8',
        [7],
        ints(Int8Array, 7, (x) => x),
      ),
      t(
        'u8',
        'U8',
        [7],
        ints(Uint8Array, 7, (x) => x),
      ),
      t(
        'i16',
        'I16',
        [3],
        ints(Int16Array, 3, (x) => x),
      ),
      t(
        'u16',
        'U16',
        [3],
        ints(Uint16Array, 3, (x) => x),
      ),
      t(
        'i32',
        'I32',
        [4],
        ints(Int32Array, 4, (x) => x),
      ),
      t(
        'u32',
        'U32',
        [4],
        ints(Uint32Array, 4, (x) => x),
      ),
      t(
        'i64',
        'I64',
        [2],
        ints(BigInt64Array, 2, (x) => BigInt(x) * -123456789n),
      ),
      t(
        'u64',
        'U64',
        [2],
        ints(BigUint64Array, 2, (x) => BigInt(x) * 987654321n),
      ),
      t(
        'bool',
        'BOOL',
        [5],
        ints(Uint8Array, 5, (x) => x & 1),
      ),
      t('scalar', 'F32', [], Float32Array.of(Math.PI)),
      t('empty', 'F16', [0, 3], new Uint16Array(0)),
    ],
    { format: 'pt', writer: '@anyprec/format' },
  );
}

/** A two-layer Llama source model with 64-wide layers (bf16). */
async function writeSource(dir: string) {
  mkdirSync(dir, { recursive: true });
  const H = 64;
  const F = 128;
  const V = 32;
  const rnd = lcg(2);
  const w = (n: number) => f32ToBf16(Float32Array.from({ length: n }, () => rnd() / 2 ** 32 - 0.5));
  const tensors = [
    { name: 'model.embed_tokens.weight', dtype: 'BF16' as DType, shape: [V, H], data: w(V * H) },
  ];
  for (let l = 0; l < 2; l++) {
    const p = `model.layers.${l}`;
    tensors.push(
      { name: `${p}.input_layernorm.weight`, dtype: 'BF16', shape: [H], data: w(H) },
      { name: `${p}.self_attn.q_proj.weight`, dtype: 'BF16', shape: [H, H], data: w(H * H) },
      { name: `${p}.self_attn.k_proj.weight`, dtype: 'BF16', shape: [H / 2, H], data: w((H * H) / 2) },
      { name: `${p}.self_attn.v_proj.weight`, dtype: 'BF16', shape: [H / 2, H], data: w((H * H) / 2) },
      { name: `${p}.self_attn.o_proj.weight`, dtype: 'BF16', shape: [H, H], data: w(H * H) },
      { name: `${p}.post_attention_layernorm.weight`, dtype: 'BF16', shape: [H], data: w(H) },
      { name: `${p}.mlp.gate_proj.weight`, dtype: 'BF16', shape: [F, H], data: w(F * H) },
      { name: `${p}.mlp.up_proj.weight`, dtype: 'BF16', shape: [F, H], data: w(F * H) },
      { name: `${p}.mlp.down_proj.weight`, dtype: 'BF16', shape: [H, F], data: w(H * F) },
    );
  }
  tensors.push({ name: 'model.norm.weight', dtype: 'BF16', shape: [H], data: w(H) });
  await writeSafetensors(join(dir, 'model.safetensors'), tensors, { format: 'pt' });
  const config = {
    architectures: ['LlamaForCausalLM'],
    model_type: 'llama',
    vocab_size: V,
    hidden_size: H,
    intermediate_size: F,
    num_hidden_layers: 2,
    num_attention_heads: 2,
    num_key_value_heads: 1,
    rms_norm_eps: 1e-5,
    rope_theta: 10000,
    tie_word_embeddings: true,
    torch_dtype: 'bfloat16',
  };
  await writeFileAtomic(join(dir, 'config.json'), JSON.stringify(config));
  await writeFileAtomic(join(dir, 'tokenizer_config.json'), '{"model_max_length": 2048}');
  return tensors
    .filter((t) => t.name.endsWith('_proj.weight'))
    .map((t) => ({ base: t.name.slice(0, -'.weight'.length), rows: t.shape[0], cols: t.shape[1] }));
}

async function writeAll(root: string) {
  rmSync(root, { recursive: true, force: true });
  mkdirSync(root, { recursive: true });
  await writeDtypes(join(root, 'dtypes.safetensors'));
  const src = join(work, `source-${Math.random()}`);
  const layers = await writeSource(src);
  const rnd = lcg(3);
  const byBase = new Map(layers.map((l) => [l.base, l]));
  const f16 = (n: number) => f32ToF16(Float32Array.from({ length: n }, () => rnd() / 2 ** 32 - 0.5));
  await writeContainerDir({
    outDir: join(root, 'anyprec'),
    sourceDir: src,
    method: 'anyprec',
    parentBits: 4,
    precisions: [2, 3, 4],
    seedBits: 2,
    layers,
    getData(name) {
      const m = /^(.*)\.(planes|lut(\d))$/.exec(name);
      if (!m) return undefined;
      const l = byBase.get(m[1])!;
      if (m[2] === 'planes')
        return packPlanes(
          Uint8Array.from({ length: l.rows * l.cols }, () => rnd() & 15),
          l.rows,
          l.cols,
          4,
        );
      return f16(l.rows * 2 ** Number(m[3]));
    },
  });
  await writeContainerDir({
    outDir: join(root, 'anybcq-sharded'),
    sourceDir: src,
    method: 'anybcq',
    parentBits: 3,
    precisions: [2, 3],
    groupSize: 32,
    offsets: true,
    layers,
    maxShardBytes: 40_000,
    getData(name) {
      const m = /^(.*)\.(planes|scales(\d)|offsets(\d))$/.exec(name);
      if (!m) return undefined;
      const l = byBase.get(m[1])!;
      const groups = Math.ceil(l.cols / 32);
      if (m[2] === 'planes')
        return packSigns(
          Int8Array.from({ length: 3 * l.rows * l.cols }, () => (rnd() & 1 ? 1 : -1)),
          l.rows,
          l.cols,
          3,
        );
      return f16(m[3] ? l.rows * groups * Number(m[3]) : l.rows * groups);
    },
  });
  rmSync(src, { recursive: true, force: true });
}

function listFiles(root: string): string[] {
  const out: string[] = [];
  const walk = (d: string) => {
    for (const e of readdirSync(d)) {
      const p = join(d, e);
      if (statSync(p).isDirectory()) walk(p);
      else out.push(relative(root, p));
    }
  };
  walk(root);
  return out.sort();
}

it('fixtures/pycheck holds exactly what the writer produces now', async () => {
  if (process.env.UPDATE_PYCHECK) await writeAll(FIXTURES);
  const fresh = join(work, 'fresh');
  await writeAll(fresh);
  const files = listFiles(fresh);
  expect(files).toContain('anybcq-sharded/model.safetensors.index.json');
  expect(files.filter((f) => f.startsWith('anybcq-sharded/model-')).length).toBeGreaterThan(1);
  expect(listFiles(FIXTURES)).toEqual(files);
  for (const f of files)
    expect(readFileSync(join(fresh, f)).equals(readFileSync(join(FIXTURES, f))), f).toBe(true);
});
