import { type Program } from '../run.js';

/** `anyprec generate`: generate text from a prompt at a chosen precision. (Placeholder until its issue lands.) */
export function register(program: Program): void {
  program
    .command('generate')
    .description('generate text from a prompt at a chosen precision (not implemented yet)')
    .action(() => {
      throw new Error('`anyprec generate` is not implemented yet');
    });
}
