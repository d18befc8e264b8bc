// Defaults and validation of quantizeAnyBcq's options (src/anybcq/options.ts).
import { describe, expect, it } from 'vitest';
import { AnyBcqOptionsError, resolveOptions } from '../src/anybcq/options.js';

describe('AnyBCQ options', () => {
  const base = { model: 'm', out: 'o' };

  it('with calibration, defaults to GPTQ-style joint planes in act-order on 128 × 512 tokens', () => {
    const r = resolveOptions({ ...base, calib: 'calib.jsonl' });
    expect(r).toMatchObject({
      refine: 'block',
      codeSelection: 'gptq',
      gptqPlanes: 'joint',
      gptqRounds: 3,
      actOrder: true,
      samples: 128,
      seqLen: 512,
      bits: 4,
      baseBits: 2,
      groupSize: 128,
      offsets: true,
    });
  });

  it('without calibration, or without a refine stage, stays data-free', () => {
    expect(resolveOptions(base)).toMatchObject({ refine: 'none', codeSelection: 'data-free' });
    expect(resolveOptions({ ...base, calib: 'calib.jsonl', refine: 'none' }).codeSelection).toBe('data-free');
  });

  it('keeps the earlier behaviour reachable', () => {
    const r = resolveOptions({
      ...base,
      calib: 'calib.jsonl',
      codeSelection: 'data-free',
      samples: 64,
      seqLen: 256,
    });
    expect(r).toMatchObject({ codeSelection: 'data-free', samples: 64, seqLen: 256 });
    const e = resolveOptions({ ...base, calib: 'c.jsonl', gptqPlanes: 'expansion', actOrder: false });
    expect(e).toMatchObject({ codeSelection: 'gptq', gptqPlanes: 'expansion', actOrder: false });
  });

  it('rejects bad GPTQ settings with the flag to fix', () => {
    expect(() => resolveOptions({ ...base, codeSelection: 'gptq' })).toThrow(/--code-selection/);
    expect(() => resolveOptions({ ...base, calib: 'c.jsonl', gptqPlanes: 'some' as never })).toThrow(
      /--gptq-planes/,
    );
    expect(() => resolveOptions({ ...base, calib: 'c.jsonl', gptqRounds: 0 })).toThrow(/--gptq-rounds/);
    expect(() => resolveOptions({ ...base, calib: 'data/dev.jsonl' })).toThrow(AnyBcqOptionsError);
  });
});
