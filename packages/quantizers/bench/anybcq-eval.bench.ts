// Dev perplexity of an AnyBCQ container at every served width (protocol of
// ../shared/models/README.md; EVAL_TOKENS=262144 is the full protocol). Prints JSON.
//
//   CONTAINER=/tmp/small-anybcq EVAL_TOKENS=262144 flock /tmp/anyprec-heavy.lock \
//   npx vitest run --config bench/anybcq.vitest.config.ts anybcq-eval
import { buildEvalStream, loadModel } from '@anyprec/runtime';
import { it } from 'vitest';

it('anybcq eval', async () => {
  const container = process.env.CONTAINER ?? '/tmp/anybcq-bench-out';
  const tokens = Number(process.env.EVAL_TOKENS ?? 262144);
  const model = await loadModel(container, { backend: 'cpu' });
  const stream = await buildEvalStream(
    process.env.DEV_DATA ?? '/work/shared/data/dev.jsonl',
    model.tokenizer,
    tokens,
  );
  const ppl: Record<number, number> = {};
  for (const b of model.precisions) ppl[b] = (await model.perplexity(stream, { precision: b })).ppl;
  console.log(JSON.stringify({ container, tokens: stream.length, ppl }));
});
