import { type Program } from '../run.js';

/**
 * `anyprec demo`: the quick-start job on the embedded default model (models/tiny).
 * It grows with the project: inspect now; quantize, eval and generate as they land.
 */
export function register(program: Program): void {
  program
    .command('demo')
    .description('run the quick-start demo on the embedded default model (models/tiny)')
    .action(async () => {
      await program.parseAsync(['node', 'anyprec', 'doctor']);
    });
}
