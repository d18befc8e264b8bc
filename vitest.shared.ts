// Shared vitest settings: workspace packages resolve to their TypeScript sources, so a
// package's tests never depend on another package's dist/ being built or current.
import { fileURLToPath } from 'node:url';

const src = (path: string) => fileURLToPath(new URL(path, import.meta.url));

export const workspaceAlias = {
  '@anyprec/format/node': src('./packages/format/src/node.ts'),
  '@anyprec/format': src('./packages/format/src/index.ts'),
  '@anyprec/runtime': src('./packages/runtime/src/index.ts'),
  '@anyprec/quantizers': src('./packages/quantizers/src/index.ts'),
  '@anyprec/kernels-cpu': src('./packages/kernels-cpu/src/index.ts'),
  '@anyprec/kernels-cuda': src('./packages/kernels-cuda/src/index.ts'),
};

/**
 * Reporters: the console, plus a JSON report (git-ignored) that .ci/run sums into one
 * `N passed, N failed` line. Written on every run, so turbo finds the `test` task's declared
 * output and does not warn that it is missing.
 */
export const reporters = ['default', ['json', { outputFile: 'test-results.json' }]];
