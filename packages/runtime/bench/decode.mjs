// Greedy decode speed (tokens/s after the prompt) of a model; prints one JSON object.
// usage: node bench/decode.mjs [model-dir] [--tokens N] [--backend cpu|ts] [--precision P] [--batch B]
import { loadModel } from '../dist/index.js';

const args = process.argv.slice(2);
const flag = (name, fallback) => {
  const i = args.indexOf(`--${name}`);
  return i === -1 ? fallback : args[i + 1];
};
const shared = process.env.ANYPREC_SHARED ?? new URL('../../../../shared', import.meta.url).pathname;
const dir = args[0] && !args[0].startsWith('--') ? args[0] : `${shared}/models/small`;
const tokens = Number(flag('tokens', 256));
const batch = Number(flag('batch', 1));
const model = await loadModel(dir, { backend: flag('backend', undefined) });
const precision = flag('precision') ? Number(flag('precision')) : model.defaultPrecision;
const prompt = [0, ...model.tokenizer.encode('The kernel scheduler decides which task')];

// warm-up (JIT, thread pool), then the timed run
await model.generateText(prompt, { maxTokens: 16, precision });
let ms;
if (batch === 1) {
  const start = performance.now();
  const result = await model.generateText(prompt, {
    maxTokens: tokens,
    precision,
    stopTokenIds: [],
    addBos: false,
  });
  ms = performance.now() - start;
  if (result.ids.length !== tokens)
    console.error(`stopped early after ${result.ids.length} tokens (${result.finishReason})`);
} else {
  // batched greedy decode: `batch` sequences, one decodeBatch call per step
  const caches = Array.from({ length: batch }, () => model.newCache(prompt.length + tokens));
  let next = caches
    .map((cache) => model.forward(prompt, { cache, precision }))
    .map((l) => l.indexOf(Math.max(...l)));
  const start = performance.now();
  for (let step = 0; step < tokens; step++) {
    const logits = model.decodeBatch(caches.map((cache, i) => ({ token: next[i], cache, precision })));
    const V = model.config.vocabSize;
    next = caches.map((_, i) => {
      const row = logits.subarray(i * V, (i + 1) * V);
      return row.indexOf(Math.max(...row));
    });
  }
  ms = performance.now() - start;
}
console.log(
  JSON.stringify({
    bench: 'decode',
    model: dir,
    backend: model.backend.name,
    threads: model.backend.threads,
    precision,
    batch,
    tokens,
    seconds: ms / 1000,
    tokensPerSecond: (batch * tokens * 1000) / ms,
  }),
);
