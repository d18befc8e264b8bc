import { type Program } from '../run.js';

/** `anyprec quantize`: quantize a Hugging Face model into a multi-precision container. (Placeholder until its issue lands.) */
export function register(program: Program): void {
  program
    .command('quantize')
    .description('quantize a Hugging Face model into a multi-precision container (not implemented yet)')
    .action(() => {
      throw new Error('`anyprec quantize` is not implemented yet');
    });
}
