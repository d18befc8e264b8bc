import { quantizeAnyBcq, quantizeAnyPrec } from '@anyprec/quantizers';
import { Option } from '@commander-js/extra-typings';
import { type Program, printJson } from '../run.js';

/** Thrown for flag combinations that cannot work; the message says which flag to fix. */
export class QuantizeUsageError extends Error {
  override name = 'QuantizeUsageError';
}

const int = (flag: string) => (value: string) => {
  const n = Number(value);
  if (!Number.isInteger(n)) throw new QuantizeUsageError(`${flag} must be an integer, got "${value}"`);
  return n;
};

const seconds = (ms: number) => (ms < 10_000 ? `${(ms / 1000).toFixed(1)}s` : `${Math.round(ms / 1000)}s`);

/**
 * `anyprec quantize`: quantize a Hugging Face model into a multi-precision container.
 * `--method anyprec` (Any-Precision LLM, widths seed..max) or `--method anybcq` (AnyBCQ).
 */
export function register(program: Program): void {
  program
    .command('quantize')
    .description('quantize a Hugging Face model into a multi-precision bit-plane container')
    .argument('<model-dir>', 'Hugging Face model directory (config.json, model.safetensors, tokenizer)')
    .requiredOption('-o, --out <dir>', 'output container directory (an unfinished run there is resumed)')
    .addOption(
      new Option('--method <method>', 'quantization method')
        .choices(['anyprec', 'anybcq'] as const)
        .default('anyprec' as const),
    )
    .option('--calib <file.jsonl>', 'calibration JSONL (field "text"); never the dev split')
    .option('--samples <n>', 'calibration sequences (default: anyprec 100, anybcq 128)', int('--samples'))
    .option(
      '--seq-len <n>',
      'tokens per calibration sequence (default: anyprec 512, anybcq 512)',
      int('--seq-len'),
    )
    .option('--seed <n>', 'seed of calibration sampling and k-means++', int('--seed'), 0)
    .option('--seed-bits <n>', 'anyprec: seed width (2 or 3)', int('--seed-bits'), 3)
    .option('--max-bits <n>', 'anyprec: parent (maximum) width, up to 8', int('--max-bits'), 8)
    .addOption(
      new Option('--sensitivity <kind>', 'anyprec: Fisher diagonal from --calib, or unit weights')
        .choices(['fisher', 'unit'] as const)
        .default('fisher' as const),
    )
    .option(
      '--layers <patterns>',
      'anyprec: quantize only linears whose name contains one of these comma-separated strings',
    )
    .option('--lm-head', 'anyprec: also quantize lm_head (untied heads only)')
    .option(
      '--restarts <n>',
      'anyprec: with --seed-init kmeans++, restarts per row (best kept)',
      int('--restarts'),
      8,
    )
    .addOption(
      new Option(
        '--seed-init <kind>',
        'anyprec: seed clustering, k-means++ + Lloyd or the exact optimum (dynamic programming)',
      )
        .choices(['kmeans++', 'optimal'] as const)
        .default('optimal' as const),
    )
    .option(
      '--sensitivity-cache <dir>',
      'anyprec: keep the Fisher diagonals here and reuse them in later runs with the same calibration',
    )
    .option('--threads <n>', 'native worker threads (default: all cores)', int('--threads'))
    .option('--bits <n>', 'anybcq: maximum width', int('--bits'), 4)
    .option('--base-bits <n>', 'anybcq: lowest width', int('--base-bits'), 2)
    .option('--group-size <n>', 'anybcq: inputs per scale group', int('--group-size'), 128)
    .option('--no-offsets', 'anybcq: no per-group offsets (offsets are stored by default)')
    .addOption(
      new Option(
        '--code-selection <kind>',
        'anybcq: sign planes from the weights alone, or GPTQ-style against the calibration inputs (default gptq with --calib)',
      ).choices(['data-free', 'gptq'] as const),
    )
    .addOption(
      new Option(
        '--gptq-planes <which>',
        'anybcq, gptq: each added plane for its width (expansion), then the added planes jointly for the widest width (joint, default), or all planes (all)',
      ).choices(['expansion', 'joint', 'all'] as const),
    )
    .option(
      '--gptq-rounds <n>',
      'anybcq, gptq: sign choice + scale refit rounds per stage (default 3)',
      int('--gptq-rounds'),
    )
    .option(
      '--act-order',
      'anybcq, gptq: decide inputs by decreasing activation energy (GPTQ act-order; default)',
    )
    .option('--no-act-order', 'anybcq, gptq: decide inputs in their natural order')
    .option('--json', 'print the result as one JSON object on stdout')
    .action(async (modelDir, options) => {
      const log = (line: string) => process.stderr.write(`${line}\n`);
      if (options.method === 'anybcq') {
        const result = await quantizeAnyBcq({
          model: modelDir,
          out: options.out,
          bits: options.bits,
          baseBits: options.baseBits,
          groupSize: options.groupSize,
          offsets: options.offsets,
          codeSelection: options.codeSelection,
          gptqPlanes: options.gptqPlanes,
          gptqRounds: options.gptqRounds,
          actOrder: options.actOrder,
          calib: options.calib,
          samples: options.samples,
          seqLen: options.seqLen,
          seed: options.seed,
          threads: options.threads,
          onProgress: (event: unknown) => {
            const e = event as { message?: unknown };
            log(typeof e?.message === 'string' ? e.message : JSON.stringify(event));
          },
        });
        if (options.json) printJson(result);
        return;
      }
      const result = await quantizeAnyPrec({
        model: modelDir,
        out: options.out,
        seedBits: options.seedBits,
        maxBits: options.maxBits,
        sensitivity: options.sensitivity,
        calib: options.calib,
        samples: options.samples ?? 100,
        seqLen: options.seqLen ?? 512,
        seed: options.seed,
        restarts: options.restarts,
        seedInit: options.seedInit,
        sensitivityCache: options.sensitivityCache,
        threads: options.threads,
        lmHead: options.lmHead ?? false,
        include: options.layers
          ? options.layers
              .split(',')
              .map((s) => s.trim())
              .filter(Boolean)
          : undefined,
        onProgress: (event) => {
          if (event.kind === 'stage') return log(event.message);
          const where = event.layer >= 0 ? `layer ${event.layer}` : 'lm_head';
          const what = event.resumed ? 'already done (resumed)' : `${seconds(event.ms)}`;
          log(`[${event.index}/${event.total}] ${where} ${event.base}: ${what}, ETA ${seconds(event.etaMs)}`);
        },
      });
      if (options.json) printJson(result);
      else
        log(
          `wrote ${result.out}: widths ${result.seedBits}..${result.parentBits}, ${result.linears.length} linears, ${seconds(result.ms)}`,
        );
    });
}
