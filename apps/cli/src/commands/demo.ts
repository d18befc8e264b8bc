import { spawnSync } from 'node:child_process';
import { existsSync } from 'node:fs';
import { dirname, join, relative } from 'node:path';
import { fileURLToPath } from 'node:url';
import type { Program } from '../run.js';

/** The checkout root: this file is bundled into apps/cli/dist/index.js. */
const repoRoot = join(dirname(fileURLToPath(import.meta.url)), '..', '..', '..');

/**
 * `anyprec demo`: the quick-start job on the embedded default model (models/tiny).
 * Quantizes it once into a multi-precision container, shows what the container serves,
 * measures perplexity at every served width and generates at two of them: the whole
 * "one file, every precision" story in about a minute on two cores.
 * Each step runs as its own `anyprec` process so the output is exactly what a user
 * typing those commands would see.
 */
export function register(program: Program): void {
  program
    .command('demo')
    .description('quantize the embedded tiny model once, then evaluate and generate at several precisions')
    .option('--out <dir>', 'where the demo container is written', join(repoRoot, 'out', 'demo'))
    .option('--method <method>', 'anyprec or anybcq', 'anyprec')
    .action((options) => {
      const modelDir = join(repoRoot, 'models', 'tiny');
      const dataDir = join(modelDir, 'demo');
      if (!existsSync(join(modelDir, 'model.safetensors')) || !existsSync(join(dataDir, 'eval.jsonl'))) {
        throw new Error(
          `the demo needs the embedded model and data under ${modelDir}; run it from a checkout of the anyprec repository`,
        );
      }
      const container = join(options.out, `tiny-${options.method}`);
      const show = (path: string) => relative(process.cwd(), path) || '.';
      const cli = fileURLToPath(import.meta.url);
      const steps: string[][] = [
        [
          'quantize',
          show(modelDir),
          '--method',
          options.method,
          '--calib',
          show(join(dataDir, 'calib.jsonl')),
          '--samples',
          '32',
          '--seq-len',
          '256',
          '-o',
          show(container),
        ],
        ['inspect', show(container), '--summary'],
        ['eval', show(container), '--data', show(join(dataDir, 'eval.jsonl')), '--precision', 'all'],
        [
          'generate',
          show(container),
          '--prompt',
          'The kernel scheduler decides which task',
          '--precision',
          options.method === 'anybcq' ? '2' : '3',
          '--max-tokens',
          '32',
        ],
        [
          'generate',
          show(container),
          '--prompt',
          'The kernel scheduler decides which task',
          '--precision',
          options.method === 'anybcq' ? '4' : '8',
          '--max-tokens',
          '32',
        ],
      ];
      for (const args of steps) {
        process.stdout.write(`\n$ anyprec ${args.join(' ')}\n`);
        const result = spawnSync(process.execPath, [cli, ...args], { stdio: 'inherit' });
        if (result.status !== 0)
          throw new Error(`demo step \`anyprec ${args[0]}\` failed (exit ${result.status})`);
      }
    });
}
