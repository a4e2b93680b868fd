// Linear fits for the diagnostics (readout-probe.js, label-ceiling.js): ridge regression by the normal equations
// and Gauss-Jordan elimination. A few hundred features at most, and the project has no linear-algebra dependency
// (tfjs has no linear solve) worth adding for diagnostics.
// X^T X (with the intercept column) depends on neither the label nor the ridge strength: built once per feature set.
function gram(X) {
  const d = X[0].length + 1;
  const A = Array.from({ length: d }, () => new Float64Array(d));
  for (const row of X) {
    const x = [...row, 1];
    for (let j = 0; j < d; j++) for (let k = 0; k < d; k++) A[j][k] += x[j] * x[k];
  }
  return A;
}

function ridge(G, X, y, lambda) {
  const d = G.length;
  const A = G.map((r) => Float64Array.from(r));
  const b = new Float64Array(d);
  X.forEach((row, i) => {
    row.forEach((v, j) => (b[j] += v * y[i]));
    b[d - 1] += y[i];
  });
  for (let j = 0; j < d - 1; j++) A[j][j] += lambda * X.length; // the intercept is not penalised
  for (let c = 0; c < d; c++) {
    let p = c;
    for (let r = c + 1; r < d; r++) if (Math.abs(A[r][c]) > Math.abs(A[p][c])) p = r;
    [A[c], A[p]] = [A[p], A[c]];
    [b[c], b[p]] = [b[p], b[c]];
    for (let r = 0; r < d; r++) {
      if (r === c) continue;
      const f = A[r][c] / A[c][c];
      for (let k = c; k < d; k++) A[r][k] -= f * A[c][k];
      b[r] -= f * b[c];
    }
  }
  const w = Array.from(b, (v, j) => v / A[j][j]);
  return (x) => x.reduce((s, v, j) => s + v * w[j], w[d - 1]);
}

module.exports = { gram, ridge };
