// Perplexity of every served width of a model or container (the protocol of
// ../shared/models/README.md) with the runtime's CPU backend.
//   bash bench/anyprec-run.sh bench/anyprec-eval.ts <model-or-container> <data.jsonl> [tokens=262144] [widths=all, e.g. 3,4]
// Prints one JSON object on stdout.
import { buildEvalStream, loadModel } from '@anyprec/runtime';

const [path, data, tokensArg, widthsArg] = process.argv.slice(2);
const m = await loadModel(path, { backend: 'cpu' });
const tokens = await buildEvalStream(data, m.tokenizer, Number(tokensArg ?? 262_144));
const widths = widthsArg ? widthsArg.split(',').map(Number) : m.precisions;
const ppl: Record<string, number> = {};
for (const precision of widths) {
  const r = await m.perplexity(tokens, { precision });
  ppl[precision] = Number(r.ppl.toFixed(4));
  process.stderr.write(`ppl@${precision} = ${r.ppl.toFixed(4)} (${r.seconds.toFixed(0)} s)\n`);
}
console.log(JSON.stringify({ bench: 'anyprec-eval', path, data, tokens: tokens.length, ppl }));
