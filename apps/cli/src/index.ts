// anyprec command-line entry. Each subcommand lives in src/commands/<name>.ts and
// exports `register(program)`; this file only wires them together.
import { Command } from '@commander-js/extra-typings';
import { register as registerDemo } from './commands/demo.js';
import { register as registerDoctor } from './commands/doctor.js';
import { register as registerEval } from './commands/eval.js';
import { register as registerGenerate } from './commands/generate.js';
import { register as registerInspect } from './commands/inspect.js';
import { register as registerQuantize } from './commands/quantize.js';
import { runCli } from './run.js';

const program = new Command()
  .name('anyprec')
  .description(
    'Quantize a Hugging Face causal LM once into bit-planes; run it at any precision from 2 to 8 bits.',
  )
  .version(process.env.ANYPREC_VERSION ?? '0.1.0')
  .showHelpAfterError('(run `anyprec --help` for usage)');

registerInspect(program);
registerQuantize(program);
registerEval(program);
registerGenerate(program);
registerDemo(program);
registerDoctor(program);

await runCli(program);
