// Calibration sampling: reproducible per seed, documents without repeats, the skip rule for
// short documents, BOS + truncation, and a typed error when the file runs out.

import { existsSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { afterAll, describe, expect, it } from 'vitest';
import { CalibrationError, sampleCalibration, shuffledIndices } from '../src/calib.js';

const dir = mkdtempSync(join(tmpdir(), 'anyprec-calib-'));
afterAll(() => rmSync(dir, { recursive: true, force: true }));

// document i has (i % 7) * 3 words "w<i>_<j>"; the test encoder maps a word to one id
const DOCS = Array.from({ length: 60 }, (_, i) => ({
  name: `doc${i}`,
  text: Array.from({ length: (i % 7) * 3 }, (_, j) => `w${i}_${j}`).join(' '),
}));
const file = join(dir, 'calib.jsonl');
writeFileSync(file, `${DOCS.map((d) => JSON.stringify(d)).join('\n')}\n`);
const encode = (text: string) =>
  text === ''
    ? []
    : text.split(' ').map((w) => 1000 + Number(w.split('_')[1]) + 100 * Number(w.slice(1).split('_')[0]));

describe('sampleCalibration', () => {
  it('is reproducible for a seed and changes with the seed', () => {
    const a = sampleCalibration({ path: file, encode, samples: 10, seqLen: 8, seed: 3 });
    const b = sampleCalibration({ path: file, encode, samples: 10, seqLen: 8, seed: 3 });
    const c = sampleCalibration({ path: file, encode, samples: 10, seqLen: 8, seed: 4 });
    expect(b.documents).toEqual(a.documents);
    expect(b.sequences).toEqual(a.sequences);
    expect(c.documents).not.toEqual(a.documents);
  });

  it('skips documents shorter than seqLen (BOS counted), truncates the rest, never repeats a document', () => {
    const seqLen = 10;
    const { sequences, documents, skipped } = sampleCalibration({
      path: file,
      encode,
      samples: 12,
      seqLen,
      seed: 1,
    });
    expect(sequences.length).toBe(12);
    expect(new Set(documents).size).toBe(12);
    for (let s = 0; s < sequences.length; s++) {
      const ids = encode(DOCS[documents[s]].text);
      expect(ids.length + 1).toBeGreaterThanOrEqual(seqLen);
      expect(Array.from(sequences[s])).toEqual([0, ...ids.slice(0, seqLen - 1)]);
    }
    // every document visited before the last accepted one was either taken or too short
    const order = shuffledIndices(DOCS.length, 1);
    const visited = order.slice(0, order.indexOf(documents[documents.length - 1]) + 1);
    const short = visited.filter((i) => encode(DOCS[i].text).length + 1 < seqLen);
    expect(skipped).toBe(short.length);
    expect(visited.length).toBe(short.length + 12);
  });

  it('bos null adds nothing; a custom bos is the first token', () => {
    const none = sampleCalibration({ path: file, encode, samples: 3, seqLen: 6, seed: 2, bos: null });
    for (let s = 0; s < 3; s++)
      expect(Array.from(none.sequences[s])).toEqual(encode(DOCS[none.documents[s]].text).slice(0, 6));
    const custom = sampleCalibration({ path: file, encode, samples: 3, seqLen: 6, seed: 2, bos: 7 });
    for (const seq of custom.sequences) expect(seq[0]).toBe(7);
  });

  it('throws CalibrationError when too few documents are long enough, or the file is bad', () => {
    // only i % 7 == 6 documents have 18 words; 60 docs -> 8 of them
    expect(() => sampleCalibration({ path: file, encode, samples: 9, seqLen: 19 })).toThrow(CalibrationError);
    expect(sampleCalibration({ path: file, encode, samples: 8, seqLen: 19 }).sequences.length).toBe(8);
    expect(() => sampleCalibration({ path: join(dir, 'missing.jsonl'), encode })).toThrow(CalibrationError);
    const bad = join(dir, 'bad.jsonl');
    writeFileSync(bad, '{"text": "a b"}\n{"body": 1}\n');
    expect(() =>
      sampleCalibration({
        path: bad,
        encode: (t) => t.split(' ').map((w) => w.length),
        samples: 2,
        seqLen: 2,
        seed: 0,
      }),
    ).toThrow(/field "text"/);
  });

  it('shuffledIndices is a permutation', () => {
    const p = shuffledIndices(100, 9);
    expect([...p].sort((a, b) => a - b)).toEqual(Array.from({ length: 100 }, (_, i) => i));
  });

  const shared = fileURLToPath(new URL('../../../../shared/data/calib.jsonl', import.meta.url));
  it.skipIf(!existsSync(shared))(
    'samples the shared calibration split with the default 100 x 512 shape (skipped where ../shared is absent)',
    () => {
      const path = shared;
      const text = readFileSync(path, 'utf8');
      // crude byte-level encoder: enough to check the shape and provenance of the sample
      const bytes = (t: string) => Array.from(Buffer.from(t, 'utf8'));
      const { sequences, documents } = sampleCalibration({ path, encode: bytes });
      expect(sequences.length).toBe(100);
      expect(sequences.every((s) => s.length === 512 && s[0] === 0)).toBe(true);
      const lines = text.trim().split('\n');
      expect(Math.max(...documents)).toBeLessThan(lines.length);
      const first = JSON.parse(lines[documents[0]]).text as string;
      expect(Array.from(sequences[0].slice(1))).toEqual(bytes(first).slice(0, 511));
    },
  );
});
