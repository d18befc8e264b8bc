// Independent reference computations shared by the AnyBCQ tests (never the code under test).

/** Deterministic uniform values in [-0.5, 0.5) from a 32-bit linear congruential generator. */
export function lcg(seed: number): () => number {
  let s = seed >>> 0;
  return () => {
    s = (Math.imul(s, 1664525) + 1013904223) >>> 0;
    return s / 4294967296 - 0.5;
  };
}

/** Solves M x = y by Gaussian elimination with partial pivoting (M: m×m, copied). */
export function gaussSolve(mIn: number[][], yIn: number[]): number[] {
  const m = mIn.length;
  const a = mIn.map((row, i) => [...row, yIn[i]]);
  for (let c = 0; c < m; c++) {
    let piv = c;
    for (let r = c + 1; r < m; r++) if (Math.abs(a[r][c]) > Math.abs(a[piv][c])) piv = r;
    [a[c], a[piv]] = [a[piv], a[c]];
    for (let r = c + 1; r < m; r++) {
      const f = a[r][c] / a[c][c];
      for (let k = c; k <= m; k++) a[r][k] -= f * a[c][k];
    }
  }
  const x = new Array(m).fill(0);
  for (let r = m - 1; r >= 0; r--) {
    let v = a[r][m];
    for (let k = r + 1; k < m; k++) v -= a[r][k] * x[k];
    x[r] = v / a[r][r];
  }
  return x;
}
