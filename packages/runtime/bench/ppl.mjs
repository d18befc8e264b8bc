// Full-protocol perplexity (../shared/models/README.md) of a model; prints one JSON object.
// usage: node bench/ppl.mjs [model-dir] [--tokens N] [--backend cpu|ts] [--precision P] [--threads N] [--dense f32|stored]
import { buildEvalStream, loadModel } from '../dist/index.js';

const args = process.argv.slice(2);
const flag = (name, fallback) => {
  const i = args.indexOf(`--${name}`);
  return i === -1 ? fallback : args[i + 1];
};
const shared = process.env.ANYPREC_SHARED ?? new URL('../../../../shared', import.meta.url).pathname;
const dir = args[0] && !args[0].startsWith('--') ? args[0] : `${shared}/models/small`;
const tokens = Number(flag('tokens', 262144));
const model = await loadModel(dir, {
  backend: flag('backend', undefined),
  threads: flag('threads') ? Number(flag('threads')) : undefined,
  denseDtype: flag('dense', undefined), // 'f32' | 'stored'
});
const precision = flag('precision') ? Number(flag('precision')) : undefined;
const stream = await buildEvalStream(`${shared}/data/dev.jsonl`, model.tokenizer, tokens);
const result = await model.perplexity(stream, { precision });
console.log(
  JSON.stringify({
    bench: 'perplexity',
    model: dir,
    backend: model.backend.name,
    dense: flag('dense', 'default'),
    threads: model.backend.threads,
    tokens: stream.length,
    ...result,
  }),
);
