import { loadModel } from '@anyprec/runtime';
import { type Program, printJson } from '../run.js';

function number(name: string, value: string | undefined): number | undefined {
  if (value === undefined) return undefined;
  const n = Number(value);
  if (!Number.isFinite(n)) throw new Error(`--${name} must be a number, got "${value}"`);
  return n;
}

/** `anyprec generate`: generate text from a prompt at a chosen precision, streamed to stdout. */
export function register(program: Program): void {
  program
    .command('generate')
    .description('generate text from a prompt at a chosen precision')
    .argument('<model>', 'Hugging Face model directory or anyprec container')
    .requiredOption(
      '--prompt <text>',
      'prompt text (BOS is prepended; special-token strings stay plain text)',
    )
    .option(
      '--precision <n>',
      'served precision (default: 16 for HF models, the highest width for containers)',
    )
    .option('--max-tokens <n>', 'tokens to generate at most', '128')
    .option('--temperature <t>', 'sampling temperature (0 = greedy)', '0')
    .option('--top-k <k>', 'keep the k most likely tokens')
    .option('--top-p <p>', 'nucleus sampling mass')
    .option('--min-p <p>', 'drop tokens below min-p × the top probability')
    .option('--repetition-penalty <r>', 'penalty on tokens already in the context')
    .option('--seed <s>', 'sampling seed')
    .option('--stop <strings...>', 'stop strings')
    .option('--backend <name>', 'cpu (native) or ts (TypeScript)')
    .option('--json', 'print one JSON object on stdout instead of streaming text')
    .action(async (modelPath, options) => {
      if (options.backend === 'cuda')
        throw new Error(
          '--backend cuda: the CUDA backend is not implemented in @anyprec/runtime yet; use cpu or ts',
        );
      if (options.backend !== undefined && options.backend !== 'cpu' && options.backend !== 'ts')
        throw new Error(`--backend must be cpu or ts, got "${options.backend}"`);
      const model = await loadModel(modelPath, { backend: options.backend as 'cpu' | 'ts' | undefined });
      const precision = number('precision', options.precision) ?? model.defaultPrecision;
      const controller = new AbortController();
      process.once('SIGINT', () => controller.abort());
      const started = performance.now();
      const stream = model.generate(options.prompt, {
        precision,
        maxTokens: number('max-tokens', options.maxTokens),
        temperature: number('temperature', options.temperature),
        topK: number('top-k', options.topK),
        topP: number('top-p', options.topP),
        minP: number('min-p', options.minP),
        repetitionPenalty: number('repetition-penalty', options.repetitionPenalty),
        seed: number('seed', options.seed),
        stop: options.stop,
        signal: controller.signal,
      });
      if (!options.json) process.stdout.write(options.prompt);
      let next = await stream.next();
      while (!next.done) {
        if (!options.json) process.stdout.write(next.value.text);
        next = await stream.next();
      }
      const result = next.value;
      const seconds = (performance.now() - started) / 1000;
      if (!options.json) {
        process.stdout.write('\n');
        return;
      }
      printJson({
        model: modelPath,
        precision,
        prompt: options.prompt,
        text: result.text,
        ids: result.ids,
        finishReason: result.finishReason,
        promptTokens: result.promptTokens,
        generatedTokens: result.ids.length,
        seconds: Number(seconds.toFixed(3)),
      });
    });
}
