// Load-time validation: unsupported architectures/options and inconsistent checkpoints fail
// with typed errors naming the field or tensor.
import { copyFileSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { loadModel, PrecisionError, RuntimeArgumentError, WeightError } from '../src/index.js';
import { TINY_DIR } from './helpers.js';

const dirs: string[] = [];
function tinyWithConfig(patch: Record<string, unknown>): string {
  const dir = mkdtempSync(join(tmpdir(), 'anyprec-runtime-err-'));
  dirs.push(dir);
  for (const f of ['model.safetensors', 'tokenizer.json', 'tokenizer_config.json'])
    copyFileSync(join(TINY_DIR, f), join(dir, f));
  const config = { ...JSON.parse(readFileSync(join(TINY_DIR, 'config.json'), 'utf8')), ...patch };
  writeFileSync(join(dir, 'config.json'), JSON.stringify(config));
  return dir;
}
afterAll(() => {
  for (const d of dirs) rmSync(d, { recursive: true, force: true });
});

describe('load-time errors', () => {
  it('unsupported architecture or activation names the config field', async () => {
    await expect(
      loadModel(tinyWithConfig({ model_type: 'gpt2', architectures: ['GPT2LMHeadModel'] }), {
        backend: 'ts',
      }),
    ).rejects.toThrow(/model_type/);
    await expect(loadModel(tinyWithConfig({ hidden_act: 'gelu' }), { backend: 'ts' })).rejects.toThrow(
      /hidden_act/,
    );
    await expect(
      loadModel(tinyWithConfig({ rope_scaling: { rope_type: 'yarn', factor: 4 } }), { backend: 'ts' }),
    ).rejects.toThrow(/rope_scaling/);
  });

  it('a checkpoint that does not match the config names the tensor', async () => {
    await expect(loadModel(tinyWithConfig({ num_hidden_layers: 5 }), { backend: 'ts' })).rejects.toThrow(
      WeightError,
    );
    await expect(loadModel(tinyWithConfig({ num_hidden_layers: 5 }), { backend: 'ts' })).rejects.toThrow(
      /model\.layers\.4\./,
    );
    await expect(loadModel(tinyWithConfig({ intermediate_size: 700 }), { backend: 'ts' })).rejects.toThrow(
      /gate_proj\.weight.*shape/,
    );
    await expect(loadModel(tinyWithConfig({ attention_bias: true }), { backend: 'ts' })).rejects.toThrow(
      /q_proj\.bias/,
    );
  });

  it('bad requests at run time', async () => {
    const model = await loadModel(TINY_DIR, { backend: 'ts' });
    expect(() => model.forward([0, 99999])).toThrow(RuntimeArgumentError);
    expect(() => model.forward([])).toThrow(RuntimeArgumentError);
    expect(() => model.forward([0], { precision: 4 })).toThrow(PrecisionError);
    await expect(loadModel(TINY_DIR, { backend: 'gpu' as 'ts' })).rejects.toThrow(RuntimeArgumentError);
  });
});
