// Summarise a phase trace written by an ANYPREC_TRACE build (development aid):
//   node bench/trace-summary.mjs FILE.bin [FILE.bin ...]
// ANYPREC_TRACE_GRAPH files hold up to 64 captured launches; the middle one is shown relative
// to the end of the launch before it (steady state of graph replays). ANYPREC_TRACE_FILE
// files hold one launch, shown relative to its first warp's start. Each record is
// [start, waited, staged, first unit, loop, combined, end, SM] (u64; 0 = not reached).
import { readFileSync } from 'node:fs';

const PHASES = ['start', 'waited', 'staged', 'unit0', 'loop', 'combined', 'end'];
const SLOTS = 8;

function launches(file) {
  const buf = readFileSync(file);
  const v = new BigUint64Array(buf.buffer, buf.byteOffset, buf.length / 8);
  const split = (words) => {
    const out = [];
    for (let i = 0; i + SLOTS <= words.length; i += SLOTS)
      out.push(Array.from(words.subarray(i, i + SLOTS), Number));
    return out;
  };
  const any = (recs) => recs.some((r) => r[0] > 0);
  if (v.length % 64 === 0) {
    const n = v.length / 64;
    const all = Array.from({ length: 64 }, (_, i) => split(v.subarray(i * n, (i + 1) * n))).filter(any);
    if (all.length > 1) return all;
  }
  return [split(v)];
}

const pct = (xs) => {
  const s = xs.slice().sort((a, b) => a - b);
  return [s[0], s[Math.floor(s.length / 2)], s[s.length - 1]].map((x) => (x / 1000).toFixed(2)).join('/');
};

for (const file of process.argv.slice(2)) {
  const ls = launches(file);
  const k = Math.floor(ls.length / 2);
  const recs = ls[k];
  const base =
    ls.length > 1
      ? Math.max(...ls[k - 1].map((r) => r[6]).filter((x) => x > 0))
      : Math.min(...recs.map((r) => r[0]).filter((x) => x > 0));
  const line = PHASES.map((name, p) => {
    const xs = recs
      .map((r) => r[p])
      .filter((x) => x > 0)
      .map((x) => x - base);
    return xs.length ? `${name} ${pct(xs)}` : `${name} -`;
  });
  const end = Math.max(...recs.map((r) => r[6]));
  // Per SM: when its last warp left the main loop (imbalance between SMs).
  const bySm = new Map();
  for (const r of recs) if (r[4] > 0) bySm.set(r[7], Math.max(bySm.get(r[7]) ?? 0, r[4] - base));
  console.log(
    `${file}: ${ls.length > 1 ? `launch ${k} of ${ls.length}, period` : 'single launch,'} ${((end - base) / 1000).toFixed(2)} us; µs min/median/max over warps:`,
  );
  console.log(`  ${line.join(' | ')}`);
  console.log(`  loop end per SM ${pct([...bySm.values()])} (${bySm.size} SMs)`);
}
