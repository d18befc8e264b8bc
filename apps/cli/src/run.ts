import type { Command } from '@commander-js/extra-typings';

/** The root commander program every src/commands/*.ts registers on. */
// biome-ignore lint/complexity/noBannedTypes: commander's extra-typings spells "no options" as {}
export type Program = Command<[], {}, {}>;

/**
 * Runs the program and turns thrown errors into one readable line on stderr and a
 * non-zero exit, instead of a stack trace (set ANYPREC_DEBUG=1 for the stack).
 */
export async function runCli(program: Program): Promise<void> {
  try {
    await program.parseAsync(process.argv);
  } catch (err) {
    const error = err as Error;
    process.stderr.write(
      `anyprec: ${error.name && error.name !== 'Error' ? `${error.name}: ` : ''}${error.message}\n`,
    );
    if (process.env.ANYPREC_DEBUG) process.stderr.write(`${error.stack}\n`);
    process.exitCode = 1;
  }
}

/** Prints one JSON document on stdout (machine output). */
export function printJson(value: unknown): void {
  process.stdout.write(`${JSON.stringify(value, null, 2)}\n`);
}
