import { type Program } from '../run.js';

/** `anyprec inspect`: list tensors, metadata and served precisions of a model directory, safetensors file or container. (Placeholder until its issue lands.) */
export function register(program: Program): void {
  program
    .command('inspect')
    .description('list tensors, metadata and served precisions of a model directory, safetensors file or container (not implemented yet)')
    .action(() => {
      throw new Error('`anyprec inspect` is not implemented yet');
    });
}
