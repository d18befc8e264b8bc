// Fisher-diagonal pass time: N calibration sequences of L tokens (../shared/data/calib.jsonl);
// prints one JSON object. usage: node bench/fisher.mjs [model-dir] [--sequences N] [--length L] [--backend cpu|ts]
import { readFileSync } from 'node:fs';
import { fisherDiagonal, loadModel } from '../dist/index.js';

const args = process.argv.slice(2);
const flag = (name, fallback) => {
  const i = args.indexOf(`--${name}`);
  return i === -1 ? fallback : args[i + 1];
};
const shared = process.env.ANYPREC_SHARED ?? new URL('../../../../shared', import.meta.url).pathname;
const dir = args[0] && !args[0].startsWith('--') ? args[0] : `${shared}/models/small`;
const count = Number(flag('sequences', 100));
const length = Number(flag('length', 512));
const model = await loadModel(dir, { backend: flag('backend', undefined) });
const sequences = [];
for (const line of readFileSync(`${shared}/data/calib.jsonl`, 'utf8').split('\n')) {
  if (!line.trim() || sequences.length === count) continue;
  const ids = [model.tokenizer.bosTokenId, ...model.tokenizer.encode(JSON.parse(line).text)];
  if (ids.length >= length) sequences.push(ids.slice(0, length));
}
const start = performance.now();
const fisher = fisherDiagonal(model, sequences);
const seconds = (performance.now() - start) / 1000;
let total = 0;
for (const f of fisher.values()) for (const v of f) total += v;
console.log(
  JSON.stringify({
    bench: 'fisher',
    model: dir,
    backend: model.backend.name,
    threads: model.backend.threads,
    sequences: sequences.length,
    length,
    seconds,
    linears: fisher.size,
    fisherTotal: total,
  }),
);
