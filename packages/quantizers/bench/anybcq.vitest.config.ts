// Runs the AnyBCQ benchmark scripts (bench/anybcq*.bench.ts) with the workspace aliases, so
// they import TypeScript sources like the tests do. Each script prints one JSON object.
// Usage: npx vitest run --config bench/anybcq.vitest.config.ts [name filter]
import { defineConfig } from 'vitest/config';
import { workspaceAlias } from '../../../vitest.shared.js';

export default defineConfig({
  resolve: { alias: workspaceAlias },
  test: {
    include: ['bench/anybcq*.bench.ts'],
    testTimeout: 3_600_000,
    hookTimeout: 3_600_000,
    fileParallelism: false,
  },
});
