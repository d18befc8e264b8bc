import { buildEvalStream, loadModel, type Model, PROTOCOL_TOKENS } from '@anyprec/runtime';
import { type Program, printJson } from '../run.js';

/** Precisions to evaluate: `all` = every served precision (16 = unquantized, HF models only). */
function precisionsFor(model: Model, option: string): number[] {
  if (option === 'all') return model.precisions.slice().sort((a, b) => b - a);
  const precision = Number(option);
  if (!Number.isInteger(precision)) throw new Error(`--precision must be all, 16 or 2..8, got "${option}"`);
  model.checkPrecision(precision);
  return [precision];
}

function backendOption(value: string): 'cpu' | 'ts' {
  if (value === 'cuda')
    throw new Error(
      '--backend cuda: the CUDA backend is not implemented in @anyprec/runtime yet; use cpu or ts',
    );
  if (value !== 'cpu' && value !== 'ts') throw new Error(`--backend must be cpu, ts or cuda, got "${value}"`);
  return value;
}

/** `anyprec eval`: perplexity of a model or container at one or all precisions (protocol of ../shared/models/README.md). */
export function register(program: Program): void {
  program
    .command('eval')
    .description('perplexity of a model or container at one or all precisions')
    .argument('<model>', 'Hugging Face model directory or anyprec container')
    .requiredOption(
      '--data <file>',
      'JSONL file with a "text" field per line (e.g. ../shared/data/dev.jsonl)',
    )
    .option('--tokens <n>', 'tokens of the evaluation stream', String(PROTOCOL_TOKENS))
    .option('--precision <p>', 'all, 16 (unquantized) or a served width 2..8', 'all')
    .option('--backend <name>', 'cpu (native), ts (TypeScript) or cuda')
    .option('--threads <n>', 'native CPU threads')
    .option('--json', 'print one JSON object on stdout')
    .action(async (modelPath, options) => {
      const tokens = Number(options.tokens);
      if (!Number.isInteger(tokens) || tokens < 2)
        throw new Error(`--tokens must be an integer >= 2, got "${options.tokens}"`);
      const model = await loadModel(modelPath, {
        backend: options.backend === undefined ? undefined : backendOption(options.backend),
        threads: options.threads === undefined ? undefined : Number(options.threads),
      });
      const precisions = precisionsFor(model, options.precision);
      const stream = await buildEvalStream(options.data, model.tokenizer, tokens);
      const results: { precision: number; ppl: number; seconds: number }[] = [];
      for (const precision of precisions) {
        const progress = process.stderr.isTTY
          ? (done: number, total: number) =>
              process.stderr.write(`\rprecision ${precision}: window ${done}/${total}`)
          : undefined;
        const r = await model.perplexity(stream, { precision, onProgress: progress });
        if (progress) process.stderr.write('\n');
        results.push({ precision, ppl: Number(r.ppl.toFixed(4)), seconds: Number(r.seconds.toFixed(1)) });
        if (!options.json)
          process.stdout.write(
            `precision ${String(precision).padStart(2)}  ppl ${r.ppl.toFixed(4)}  (${r.seconds.toFixed(1)} s)\n`,
          );
      }
      if (options.json)
        printJson({ model: modelPath, tokens: stream.length, backend: model.backend.name, results });
    });
}
