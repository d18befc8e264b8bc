import { existsSync } from 'node:fs';
import { createRequire } from 'node:module';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';

/** Where the compiled addon is looked for, relative to this package's root. */
const ADDON_RELATIVE_PATH = join('build', 'Release', 'anyprec_cpu.node');

/** Result of trying to load the native addon: never throws. */
export type NativeLoad<T> = { addon: T; error?: undefined } | { addon?: undefined; error: string };

function packageRoot(): string {
  // dist/index.(c)js and src/*.ts both sit one level below the package root.
  return join(dirname(fileURLToPath(import.meta.url)), '..');
}

export function loadNative<T>(): NativeLoad<T> {
  const path = process.env.ANYPREC_CPU_ADDON ?? join(packageRoot(), ADDON_RELATIVE_PATH);
  if (!existsSync(path)) {
    return {
      error: `native addon not built (${path} missing): run \`npx pnpm@10.34.9 --filter @anyprec/kernels-cpu build\``,
    };
  }
  try {
    const require = createRequire(import.meta.url);
    return { addon: require(path) as T };
  } catch (err) {
    return { error: `native addon at ${path} failed to load: ${(err as Error).message}` };
  }
}
