// The core entry must run in browsers: its module graph imports no Node built-ins, and the
// Blob reader (what a browser gets from <input type=file> or fetch) reads real models.
import { existsSync, openAsBlob, readFileSync } from 'node:fs';
import { builtinModules } from 'node:module';
import { dirname, join, resolve } from 'node:path';
import { expect, it } from 'vitest';
import { blobSource, openSafetensorsSource } from '../src/index.js';
import { openSafetensors } from '../src/node.js';

/** ../shared (models and data beside the checkout) exists in CI and on dev machines, not in every fresh clone. */
const HAS_SHARED = existsSync(new URL('../../../../shared/models/small/model.safetensors', import.meta.url));

const SRC = new URL('../src/', import.meta.url).pathname;

function importsOf(file: string): string[] {
  const text = readFileSync(file, 'utf8');
  return [
    ...text.matchAll(
      /(?:import|export)\s[^'"]*?from\s+['"]([^'"]+)['"]|import\(\s*['"]([^'"]+)['"]\s*\)|require\(\s*['"]([^'"]+)['"]\s*\)/g,
    ),
  ].map((m) => m[1] ?? m[2] ?? m[3]);
}

it('src/index.ts reaches no Node built-in module (transitively)', () => {
  const builtins = new Set(builtinModules);
  const seen = new Set<string>();
  const stack = [join(SRC, 'index.ts')];
  while (stack.length) {
    const file = stack.pop()!;
    if (seen.has(file)) continue;
    seen.add(file);
    for (const spec of importsOf(file)) {
      expect(spec.startsWith('node:') || builtins.has(spec.split('/')[0]), `${file} imports ${spec}`).toBe(
        false,
      );
      if (spec.startsWith('.')) stack.push(resolve(dirname(file), spec.replace(/\.js$/, '.ts')));
      else expect.fail(`${file} imports package ${spec}; the core entry must stay dependency-free`);
    }
  }
  // nor Node-only globals
  for (const file of seen) {
    const code = readFileSync(file, 'utf8').replace(/\/\/.*$/gm, '');
    expect(/\b(Buffer|process|require|__dirname|setImmediate)\b/.exec(code)?.[0], file).toBeUndefined();
  }
  expect(seen.size).toBeGreaterThan(8);
  expect([...seen].some((f) => f.includes('/node/'))).toBe(false);
});

it.skipIf(!HAS_SHARED)(
  'blobSource reads the shared small model like the file reader does (skipped without ../shared)',
  async () => {
    const path = new URL('../../../../shared/models/small/model.safetensors', import.meta.url).pathname;
    const viaBlob = await openSafetensorsSource(blobSource(await openAsBlob(path), 'small'));
    const viaFile = await openSafetensors(path);
    try {
      expect(viaBlob.tensors.size).toBe(74);
      for (const name of ['model.norm.weight', 'model.layers.5.self_attn.v_proj.weight']) {
        expect(
          Buffer.from(await viaBlob.readTensor(name)).equals(Buffer.from(await viaFile.readTensor(name))),
        ).toBe(true);
      }
    } finally {
      await viaFile.close();
    }
  },
);
