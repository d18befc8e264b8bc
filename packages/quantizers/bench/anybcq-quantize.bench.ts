// Quantizes a model with AnyBCQ and (optionally) measures dev perplexity at every width.
// Prints one JSON object: settings, time per stage, relative output errors, perplexities.
//
//   MODEL=/work/shared/models/small OUT=/tmp/small-anybcq REFINE=block SAMPLES=64 SEQ_LEN=256 \
//   EVAL_TOKENS=32768 flock /tmp/anyprec-heavy.lock \
//   npx vitest run --config bench/anybcq.vitest.config.ts anybcq-quantize
//
// EVAL_TOKENS=262144 is the full protocol (../shared/models/README.md); a list (32768,262144)
// evaluates each; EVAL_TOKENS=0 skips eval. Output ppl is keyed by token count, then width.
import { buildEvalStream, loadModel } from '@anyprec/runtime';
import { it } from 'vitest';
import { type AnyBcqRefine, quantizeAnyBcq } from '../src/anybcq/index.js';

const env = process.env;
const num = (k: string, d: number) => (env[k] !== undefined ? Number(env[k]) : d);
/** Number from the environment, or undefined (the quantizer's default). */
const opt = (k: string) => (env[k] !== undefined ? Number(env[k]) : undefined);
/** Boolean from the environment ('1' / '0'), or undefined (the quantizer's default). */
const flag = (k: string) => (env[k] !== undefined ? env[k] === '1' : undefined);

it('anybcq quantize + eval', async () => {
  const model = env.MODEL ?? '/work/shared/models/small';
  const out = env.OUT ?? '/tmp/anybcq-bench-out';
  const result = await quantizeAnyBcq({
    model,
    out,
    bits: num('BITS', 4),
    baseBits: num('BASE_BITS', 2),
    groupSize: num('GROUP_SIZE', 128),
    offsets: env.OFFSETS !== '0',
    calib: env.CALIB ?? '/work/shared/data/calib.jsonl',
    samples: opt('SAMPLES'),
    seqLen: opt('SEQ_LEN'),
    seed: num('SEED', 0),
    refine: (env.REFINE as AnyBcqRefine | undefined) ?? 'block',
    damp: num('DAMP', 0.01),
    cycles: num('CYCLES', 20),
    blockTarget: num('BLOCK_TARGET', 0.5),
    weightedFit: env.WEIGHTED_FIT === '1',
    codeSelection: env.CODE_SELECTION as 'data-free' | 'gptq' | undefined,
    gptqRounds: opt('GPTQ_ROUNDS'),
    gptqPlanes: env.GPTQ_PLANES as 'expansion' | 'joint' | 'all' | undefined,
    actOrder: flag('ACT_ORDER'),
    resume: env.RESUME === '1',
    onProgress: (p) => {
      if (env.VERBOSE) process.stderr.write(`${p.message}\n`);
    },
  });
  // EVAL_TOKENS: one count or a comma-separated list (e.g. 32768,262144).
  const evalList = (env.EVAL_TOKENS ?? '32768')
    .split(',')
    .map(Number)
    .filter((n) => n > 0);
  const ppl: Record<number, Record<number, number>> = {};
  let evalSeconds = 0;
  if (evalList.length > 0) {
    const q = await loadModel(out, { backend: 'cpu' });
    for (const tokens of evalList) {
      const stream = await buildEvalStream(
        env.DEV_DATA ?? '/work/shared/data/dev.jsonl',
        q.tokenizer,
        tokens,
      );
      ppl[tokens] = {};
      for (const b of result.precisions) {
        const r = await q.perplexity(stream, { precision: b });
        ppl[tokens][b] = r.ppl;
        evalSeconds += r.seconds;
      }
    }
  }
  console.log(
    JSON.stringify(
      {
        model,
        settings: result.settings,
        timingsSeconds: Object.fromEntries(
          Object.entries(result.timings).map(([k, v]) => [k.replace(/Ms$/, ''), +(v / 1000).toFixed(2)]),
        ),
        outputError: result.outputError,
        ppl,
        evalSeconds: +evalSeconds.toFixed(1),
      },
      null,
      2,
    ),
  );
});
