// Summarise a phase trace written by an ANYPREC_TRACE build (development aid):
//   node bench/trace-summary.mjs FILE.bin [FILE.bin ...]
// ANYPREC_TRACE_GRAPH files hold up to 64 captured launches; the middle one is shown relative
// to the end of the launch before it (steady state of graph replays). ANYPREC_TRACE_FILE
// files hold one launch, shown relative to its first warp's start. Each record is
// [start, waited, staged, first unit, loop, combined, end, wait0, waitRest, issue0, compute0, SM]
// (u64; 0 = not reached; then SM cycles: the main loop's waits for unit 0 / later units' copies,
// unit 0's refill requests and its compute).
import { readFileSync } from 'node:fs';

const PHASES = ['start', 'waited', 'staged', 'unit0', 'loop', 'combined', 'end'];
const SLOTS = 12;

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
  for (const r of recs) if (r[4] > 0) bySm.set(r[11], Math.max(bySm.get(r[11]) ?? 0, r[4] - base));
  console.log(
    `${file}: ${ls.length > 1 ? `launch ${k} of ${ls.length}, period` : 'single launch,'} ${((end - base) / 1000).toFixed(2)} us; µs min/median/max over warps:`,
  );
  console.log(`  ${line.join(' | ')}`);
  console.log(`  loop end per SM ${pct([...bySm.values()])} (${bySm.size} SMs)`);
  // Per warp: staging to the end of unit 0, and unit 0 to the end of the loop (µs).
  const both = recs.filter((r) => r[2] > 0 && r[3] > 0 && r[4] > 0);
  console.log(
    `  per warp, µs: staged -> unit0 ${pct(both.map((r) => r[3] - r[2]))} | unit0 -> loop end ${pct(both.map((r) => r[4] - r[3]))} | waited -> staged ${pct(both.map((r) => r[2] - r[1]))}`,
  );
  // Do the CTAs that started last also finish their loops last? (median loop end of the warps
  // of the 10% of CTAs that started last, against all warps)
  const late = both
    .slice()
    .sort((x, y) => y[0] - x[0])
    .slice(0, Math.max(1, Math.floor(both.length / 10)));
  console.log(
    `  loop end, µs, warps of the last-started 10%: ${pct(late.map((r) => r[4] - base))} | all: ${pct(both.map((r) => r[4] - base))}`,
  );
  // Per CTA (start = its first warp's, staged / loop end = its last warp's), mean per decile of
  // CTA index: whether the CTAs launched later (second slot on each SM) stage and end later.
  const warpsPerCta = 8; // every fused kernel runs 8 warps per CTA (ANYPREC_NARROW_WARPS default)
  const ctas = [];
  for (let i = 0; i < recs.length; i += warpsPerCta) {
    const ws = recs.slice(i, i + warpsPerCta).filter((r) => r[0] > 0 && r[4] > 0);
    if (ws.length)
      ctas.push({
        start: Math.min(...ws.map((r) => r[0])) - base,
        staged: Math.max(...ws.map((r) => r[2])) - base,
        loop: Math.max(...ws.map((r) => r[4])) - base,
      });
  }
  const deciles = (f) =>
    Array.from({ length: 10 }, (_, d) => {
      const part = ctas.slice(Math.floor((d * ctas.length) / 10), Math.floor(((d + 1) * ctas.length) / 10));
      return part.length ? (part.reduce((acc, c) => acc + f(c), 0) / part.length / 1000).toFixed(2) : '-';
    }).join(' ');
  console.log(`  per CTA-index decile, mean µs: start ${deciles((c) => c.start)}`);
  console.log(`    staged ${deciles((c) => c.staged)} | loop end ${deciles((c) => c.loop)}`);
  // (pct divides by 1000: kilo-cycles)
  const waits = recs.filter((r) => r[0] > 0 && r[4] > 0);
  console.log(
    `  loop waits for copies, k-cycles min/median/max: unit 0 ${pct(waits.map((r) => r[7]))} | later units ${pct(waits.map((r) => r[8]))} | unit 0 refills ${pct(waits.map((r) => r[9]))} | unit 0 compute ${pct(waits.map((r) => r[10]))}`,
  );
}
