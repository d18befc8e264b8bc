// Sampling against closed-form probabilities (softmax of logits/T, truncated as HF's
// top-k / top-p / min-p processors define them).
import { describe, expect, it } from 'vitest';
import { argmax, sampleToken, seededRandom } from '../src/index.js';

const logits = Float32Array.from([Math.log(0.5), Math.log(0.3), Math.log(0.2)]);

function frequencies(
  options: Parameters<typeof sampleToken>[1],
  draws = 20000,
  values = logits,
  seed = 1,
): number[] {
  const random = seededRandom(seed);
  const counts = new Array(values.length).fill(0);
  for (let i = 0; i < draws; i++) counts[sampleToken(values, options, [], random)]++;
  return counts.map((c) => c / draws);
}

describe('sampling', () => {
  it('greedy: argmax, first index on ties, also when temperature is 0', () => {
    expect(argmax([1, 3, 3, 2])).toBe(1);
    expect(sampleToken(Float32Array.from([0, 2, 1]), { temperature: 0 }, [], Math.random)).toBe(1);
  });

  it('temperature 1 draws from softmax(logits); temperature 2 from softmax(logits / 2)', () => {
    const f = frequencies({ temperature: 1 });
    for (const [i, p] of [0.5, 0.3, 0.2].entries()) expect(Math.abs(f[i] - p)).toBeLessThan(0.015);
    const z = [0.5, 0.3, 0.2].map(Math.sqrt);
    const sum = z.reduce((a, b) => a + b);
    const f2 = frequencies({ temperature: 2 });
    for (const [i, p] of z.entries()) expect(Math.abs(f2[i] - p / sum)).toBeLessThan(0.015);
  });

  it('top-k, top-p and min-p truncate then renormalise', () => {
    const k2 = frequencies({ temperature: 1, topK: 2 });
    expect(k2[2]).toBe(0);
    expect(Math.abs(k2[0] - 0.5 / 0.8)).toBeLessThan(0.015);
    expect(frequencies({ temperature: 1, topK: 1 })).toEqual([1, 0, 0]);
    // top-p 0.6: 0.5 < 0.6, 0.5 + 0.3 >= 0.6 -> keep the first two
    const p = frequencies({ temperature: 1, topP: 0.6 });
    expect(p[2]).toBe(0);
    expect(Math.abs(p[1] - 0.3 / 0.8)).toBeLessThan(0.015);
    expect(frequencies({ temperature: 1, topP: 0.5 })).toEqual([1, 0, 0]);
    // min-p 0.5: threshold 0.25 keeps 0.5 and 0.3
    const m = frequencies({ temperature: 1, minP: 0.5 });
    expect(m[2]).toBe(0);
    expect(m[1]).toBeGreaterThan(0.3);
  });

  it('repetition penalty divides positive and multiplies negative logits of seen tokens', () => {
    const values = Float32Array.from([2, -1, 1.5]);
    expect(sampleToken(values, { repetitionPenalty: 2 }, [0, 1, 0], Math.random)).toBe(2); // [1, -2, 1.5]
    expect(sampleToken(values, { repetitionPenalty: 1.2 }, [0], Math.random)).toBe(0); // 1.67 > 1.5
    expect(values[0]).toBe(2); // input untouched
  });

  it('a seed reproduces a run', () => {
    const values = Float32Array.from({ length: 50 }, (_, i) => Math.sin(i));
    const run = (seed: number) => {
      const random = seededRandom(seed);
      return Array.from({ length: 30 }, () => sampleToken(values, { temperature: 1 }, [], random));
    };
    expect(run(7)).toEqual(run(7));
    expect(run(7)).not.toEqual(run(8));
  });
});
