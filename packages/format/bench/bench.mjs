// Benchmarks of @anyprec/format (plain node over the built dist/; run `pnpm build` first):
//   1. opening a 100-shard checkpoint (sparse files with Llama-3-70B tensor shapes): index +
//      100 header reads and strict parses, as openModel does it;
//   2. streaming write throughput (SafetensorsWriter: positional writes + CRC-32 + fsync + rename);
//   3. streaming read throughput (readTensor per tensor, positional reads) and bf16→f32 conversion;
//   4. CRC-32 throughput alone.
// Prints one JSON object. Usage: node bench/bench.mjs [--write-mib 512]
import { mkdtempSync, rmSync } from 'node:fs';
import { open, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { performance } from 'node:perf_hooks';

const lib = await import('../dist/node.js').catch(() => {
  console.error('bench: build the package first (npx pnpm@10.34.9 --filter @anyprec/format build)');
  process.exit(1);
});
const {
  SafetensorsWriter,
  bf16ToF32,
  crc32,
  openModel,
  openSafetensors,
  parseSafetensorsHeader,
  serializeSafetensorsHeader,
} = lib;

const arg = (name, fallback) => {
  const i = process.argv.indexOf(name);
  return i >= 0 ? Number(process.argv[i + 1]) : fallback;
};
const writeMiB = arg('--write-mib', 512);
const median = (xs) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)];
const work = mkdtempSync(join(tmpdir(), 'anyprec-bench-'));
const result = { node: process.version };

try {
  // ---- 1. 100-shard index ----
  const L = 80;
  const H = 8192;
  const F = 28672;
  const KV = 1024;
  const V = 128256;
  const specs = [{ name: 'model.embed_tokens.weight', dtype: 'BF16', shape: [V, H] }];
  for (let l = 0; l < L; l++) {
    const p = `model.layers.${l}`;
    specs.push(
      { name: `${p}.input_layernorm.weight`, dtype: 'BF16', shape: [H] },
      { name: `${p}.self_attn.q_proj.weight`, dtype: 'BF16', shape: [H, H] },
      { name: `${p}.self_attn.k_proj.weight`, dtype: 'BF16', shape: [KV, H] },
      { name: `${p}.self_attn.v_proj.weight`, dtype: 'BF16', shape: [KV, H] },
      { name: `${p}.self_attn.o_proj.weight`, dtype: 'BF16', shape: [H, H] },
      { name: `${p}.post_attention_layernorm.weight`, dtype: 'BF16', shape: [H] },
      { name: `${p}.mlp.gate_proj.weight`, dtype: 'BF16', shape: [F, H] },
      { name: `${p}.mlp.up_proj.weight`, dtype: 'BF16', shape: [F, H] },
      { name: `${p}.mlp.down_proj.weight`, dtype: 'BF16', shape: [H, F] },
    );
  }
  specs.push(
    { name: 'model.norm.weight', dtype: 'BF16', shape: [H] },
    { name: 'lm_head.weight', dtype: 'BF16', shape: [V, H] },
  );
  const shards = 100;
  const per = Math.ceil(specs.length / shards);
  const dir = join(work, 'sharded');
  await import('node:fs/promises').then((fs) => fs.mkdir(dir));
  const weightMap = {};
  const headers = [];
  let totalBytes = 0;
  for (let s = 0; s < shards; s++) {
    const part = specs.slice(s * per, (s + 1) * per);
    const name = `model-${String(s + 1).padStart(5, '0')}-of-${String(shards).padStart(5, '0')}.safetensors`;
    const { bytes, dataBytes } = serializeSafetensorsHeader(part, { format: 'pt' });
    const h = await open(join(dir, name), 'w');
    await h.write(bytes, 0, bytes.length, 0);
    await h.truncate(bytes.length + dataBytes); // sparse: no data written
    await h.close();
    headers.push({ bytes, size: bytes.length + dataBytes });
    totalBytes += dataBytes;
    for (const t of part) weightMap[t.name] = name;
  }
  await writeFile(
    join(dir, 'model.safetensors.index.json'),
    JSON.stringify({ metadata: { total_size: totalBytes }, weight_map: weightMap }),
  );
  await writeFile(
    join(dir, 'config.json'),
    JSON.stringify({
      architectures: ['LlamaForCausalLM'],
      model_type: 'llama',
      vocab_size: V,
      hidden_size: H,
      intermediate_size: F,
      num_hidden_layers: L,
      num_attention_heads: 64,
      num_key_value_heads: 8,
      rms_norm_eps: 1e-5,
      rope_theta: 500000,
      torch_dtype: 'bfloat16',
    }),
  );
  const openMs = [];
  for (let i = 0; i < 15; i++) {
    const t0 = performance.now();
    const m = await openModel(dir);
    openMs.push(performance.now() - t0);
    if (m.tensors.size !== specs.length) throw new Error('tensor count mismatch');
    await m.close();
  }
  const parseMs = [];
  for (let i = 0; i < 15; i++) {
    const t0 = performance.now();
    for (const h of headers) parseSafetensorsHeader(h.bytes, h.size, 'x');
    parseMs.push(performance.now() - t0);
  }
  result.shardedOpen = {
    shards,
    tensors: specs.length,
    modelGiB: +(totalBytes / 2 ** 30).toFixed(1),
    headerBytesTotal: headers.reduce((a, h) => a + h.bytes.length, 0),
    openModelMsMedian: +median(openMs).toFixed(2),
    parseHeadersOnlyMsMedian: +median(parseMs).toFixed(3),
  };

  // ---- 2. streaming write ----
  const tensorMiB = 32;
  const count = Math.max(1, Math.round(writeMiB / tensorMiB));
  const wspecs = Array.from({ length: count }, (_, i) => ({
    name: `t${i}`,
    dtype: 'BF16',
    shape: [tensorMiB * 2 ** 19],
  }));
  const data = new Uint8Array(tensorMiB * 2 ** 20);
  for (let i = 0; i < data.length; i++) data[i] = (i * 2654435761) >>> 24;
  const path = join(work, 'stream.safetensors');
  const t0 = performance.now();
  const w = await SafetensorsWriter.create(path, wspecs, (crcs) => ({
    format: 'pt',
    crcs: JSON.stringify(crcs),
  }));
  for (const s of wspecs) await w.write(s.name, data);
  await w.close();
  const writeS = (performance.now() - t0) / 1000;
  const bytes = count * data.length;
  result.streamingWrite = {
    MiB: bytes / 2 ** 20,
    seconds: +writeS.toFixed(3),
    MiBPerS: +(bytes / 2 ** 20 / writeS).toFixed(0),
    includes: 'CRC-32 + positional writes + fsync + rename',
  };

  // ---- 3. streaming read ----
  const f = await openSafetensors(path);
  let t1 = performance.now();
  for (const s of wspecs) await f.readTensor(s.name);
  const readS = (performance.now() - t1) / 1000;
  t1 = performance.now();
  for (const s of wspecs.slice(0, 4)) bf16ToF32(new Uint16Array((await f.readTensor(s.name)).buffer));
  const convS = (performance.now() - t1) / 1000;
  await f.close();
  result.streamingRead = {
    MiB: bytes / 2 ** 20,
    seconds: +readS.toFixed(3),
    MiBPerS: +(bytes / 2 ** 20 / readS).toFixed(0),
    note: 'page cache warm (just written)',
    readPlusBf16ToF32MiBPerS: +((4 * data.length) / 2 ** 20 / convS).toFixed(0),
  };

  // ---- 4. CRC-32 ----
  t1 = performance.now();
  for (let i = 0; i < 8; i++) crc32(data);
  const crcS = (performance.now() - t1) / 1000;
  result.crc32MiBPerS = +((8 * data.length) / 2 ** 20 / crcS).toFixed(0);
} finally {
  rmSync(work, { recursive: true, force: true });
}
console.log(JSON.stringify(result, null, 2));
