import { type Program } from '../run.js';

/** `anyprec eval`: perplexity of a model or container at one or all precisions. (Placeholder until its issue lands.) */
export function register(program: Program): void {
  program
    .command('eval')
    .description('perplexity of a model or container at one or all precisions (not implemented yet)')
    .action(() => {
      throw new Error('`anyprec eval` is not implemented yet');
    });
}
