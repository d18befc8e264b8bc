import { defineConfig } from 'vitest/config';
import { reporters, workspaceAlias } from '../../vitest.shared.js';

export default defineConfig({
  resolve: { alias: workspaceAlias },
  test: {
    include: ['test/**/*.test.ts'],
    testTimeout: 120_000,
    // biome-ignore lint/suspicious/noExplicitAny: vitest's reporter tuple type is not exported
    reporters: reporters as any,
  },
});
