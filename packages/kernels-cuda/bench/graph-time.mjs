// Shared by bench.mjs and one.mjs: median µs per launch of `launchOne(i)` over a CUDA graph of
// `n` launches (i = launch index), timed with CUDA events over 7 replays. The first launch (and
// `warm` more, for ANYPREC_TRACE builds that print a timeline per uncaptured launch) runs
// outside the capture: it sets kernel attributes and loads cuBLAS.
export function graphTimeUs(k, stream, n, launchOne, warm = 0) {
  for (let i = 0; i <= warm; i++) launchOne(i);
  stream.synchronize();
  stream.beginCapture();
  for (let i = 0; i < n; i++) launchOne(i);
  const g = stream.endCapture();
  const e0 = new k.CudaEvent();
  const e1 = new k.CudaEvent();
  g.launch(stream);
  const ms = [];
  for (let r = 0; r < 7; r++) {
    e0.record(stream);
    g.launch(stream);
    e1.record(stream);
    e1.synchronize();
    ms.push(e1.elapsedMsSince(e0));
  }
  g.free();
  ms.sort((a, b) => a - b);
  return (ms[ms.length >> 1] * 1000) / n;
}
