// End-to-end Any-Precision quantization of a model (calibration + Fisher + seed/upscale +
// container), then optionally perplexity of every served width on a JSONL split.
// Run (bundles the workspace sources, see README):
//   bash bench/anyprec-run.sh bench/anyprec-model.ts <model-dir> <out> [--calib f] [--samples n] [--seq-len n]
//        [--seed-bits b] [--max-bits b] [--restarts n] [--seed-init kmeans++|optimal] [--fisher-cache dir] [--floor f]
//        [--eval dev.jsonl] [--tokens n]
// Prints one JSON object on stdout; progress on stderr.
import { buildEvalStream, loadModel } from '@anyprec/runtime';
import { quantizeAnyPrec } from '../src/index.js';

const [model, out, ...rest] = process.argv.slice(2);
const flag = (name: string) => {
  const i = rest.indexOf(name);
  return i >= 0 ? rest[i + 1] : undefined;
};
const num = (name: string) => (flag(name) === undefined ? undefined : Number(flag(name)));

const t0 = performance.now();
const result = await quantizeAnyPrec({
  model,
  out,
  calib: flag('--calib'),
  sensitivity: flag('--calib') ? 'fisher' : 'unit',
  samples: num('--samples'),
  seqLen: num('--seq-len'),
  seedBits: num('--seed-bits'),
  maxBits: num('--max-bits'),
  restarts: num('--restarts'),
  seedInit: flag('--seed-init') as 'kmeans++' | 'optimal' | undefined,
  sensitivityCache: flag('--fisher-cache'),
  sensitivityFloor: num('--floor'),
  seed: num('--seed'),
  onProgress: (e) =>
    process.stderr.write(
      `${e.kind === 'stage' ? e.message : `[${e.index}/${e.total}] ${e.base} ${Math.round(e.ms)} ms ETA ${Math.round(e.etaMs / 1000)} s`}\n`,
    ),
});
const quantizeSeconds = (performance.now() - t0) / 1000;
const report: Record<string, unknown> = {
  bench: 'anyprec-model',
  model,
  out,
  quantizeSeconds: Number(quantizeSeconds.toFixed(1)),
  ...result,
  linears: result.linears.length,
};
const evalPath = flag('--eval');
if (evalPath) {
  const m = await loadModel(out, { backend: 'cpu' });
  const tokens = await buildEvalStream(evalPath, m.tokenizer, num('--tokens') ?? 262_144);
  const ppl: Record<string, number> = {};
  for (const precision of m.precisions) {
    const r = await m.perplexity(tokens, { precision });
    ppl[precision] = Number(r.ppl.toFixed(4));
    process.stderr.write(`ppl@${precision} = ${r.ppl.toFixed(4)} (${r.seconds.toFixed(0)} s)\n`);
  }
  report.evalTokens = tokens.length;
  report.ppl = ppl;
}
console.log(JSON.stringify(report));
