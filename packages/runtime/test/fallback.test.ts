// Backend selection when the native addon cannot load (simulated by pointing the addon path at
// a missing file before @anyprec/kernels-cpu is imported): TypeScript with one notice line.

import { fileURLToPath } from 'node:url';
import { afterAll, describe, expect, it } from 'vitest';

// not from ./helpers.js: that imports the runtime (and so the addon) before the variable is set
const TINY_DIR = fileURLToPath(new URL('../../../models/tiny', import.meta.url));

const previous = process.env.ANYPREC_CPU_ADDON;
process.env.ANYPREC_CPU_ADDON = '/nonexistent/anyprec_cpu.node';
afterAll(() => {
  if (previous === undefined) delete process.env.ANYPREC_CPU_ADDON;
  else process.env.ANYPREC_CPU_ADDON = previous;
});

describe('backend fallback', () => {
  it('falls back to TypeScript with a one-line notice, and refuses an explicit cpu request', async () => {
    const runtime = await import('../src/index.js');
    expect(runtime.nativeUnavailableReason()).toMatch(/nonexistent/);
    const notices: string[] = [];
    const model = await runtime.loadModel(TINY_DIR, { onNotice: (m) => notices.push(m) });
    expect(model.backend.name).toBe('ts');
    expect(notices).toHaveLength(1);
    expect(notices[0]).not.toContain('\n');
    expect(notices[0]).toMatch(/TypeScript backend/);
    await expect(runtime.loadModel(TINY_DIR, { backend: 'cpu' })).rejects.toThrow(
      /native CPU backend unavailable/,
    );
  });
});
