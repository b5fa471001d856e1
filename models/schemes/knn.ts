import * as tf from '@tensorflow/tfjs';

/** The k nearest neighbours of every row of a set (self excluded). */
export interface NeighbourTable {
  /** Neighbours per row. */
  k: number;
  /** Rows of the set. */
  n: number;
  /** n * k row indices; row i's neighbours, nearest first, at [i*k, i*k + k). */
  index: Int32Array;
  /** n * k Euclidean distances (recomputed in float64 from the inputs), aligned with `index`. */
  distance: Float32Array;
  /** Median of all n * k neighbour distances. */
  medianDistance: number;
  /** Wall-clock seconds the computation took (0 when served from the cache). */
  seconds: number;
}

const cache = new WeakMap<Float32Array, Map<string, NeighbourTable>>();

/**
 * Exact k nearest neighbours (Euclidean, in input space) of every row of the
 * row-major array `x` (`d` values per row) among the rows of `x`, excluding
 * the row itself. Squared distances ||a||^2 - 2 a.b + ||b||^2 are computed
 * with tfjs matMul on blocks of `blockRows` query rows, the k + 1 smallest
 * taken with tf.topk on the negated distances; the row itself is then dropped
 * (for exact duplicates, whichever copy is the row itself; if it is not among
 * the k + 1, the farthest is dropped). Distances of the chosen neighbours are
 * recomputed exactly in float64.
 *
 * Results are cached per input array (by identity) and k, so a dataset's
 * table is computed once per process.
 */
export function nearestNeighbours(x: Float32Array, d: number, k: number, blockRows = 500): NeighbourTable {
  const n = x.length / d;
  if (!Number.isInteger(n) || n < 2) throw new Error(`nearestNeighbours: need at least 2 rows of ${d} values`);
  if (!Number.isInteger(k) || k < 1 || k > n - 1) throw new Error(`nearestNeighbours: k must be an integer in [1, ${n - 1}], got ${k}`);
  const key = `${d}:${k}`;
  const hit = cache.get(x)?.get(key);
  if (hit) return { ...hit, seconds: 0 };
  const t0 = Date.now();
  const kk = k + 1;
  const index = new Int32Array(n * k);
  const all = tf.tensor2d(x, [n, d]);
  // Transposed once: matMul(a, allT) takes the backend's fast untransposed path.
  const allT = tf.transpose(all);
  const sq = tf.tidy(() => tf.sum(tf.square(all), 1));
  const sqRow = tf.tidy(() => sq.reshape([1, n]));
  try {
    for (let s = 0; s < n; s += blockRows) {
      const e = Math.min(n, s + blockRows);
      const [values, indices] = tf.tidy(() => {
        const a = all.slice([s, 0], [e - s, d]);
        const aSq = sq.slice([s], [e - s]).reshape([e - s, 1]);
        const dist2 = tf.add(tf.sub(aSq, tf.mul(2, tf.matMul(a, allT))), sqRow);
        const top = tf.topk(tf.neg(dist2), kk, true);
        return [top.values, top.indices];
      });
      const idx = indices.dataSync() as Int32Array;
      values.dispose();
      indices.dispose();
      for (let r = 0; r < e - s; r++) {
        const row = s + r;
        let o = row * k;
        let skipped = false;
        for (let j = 0; j < kk && o < row * k + k; j++) {
          const c = idx[r * kk + j];
          if (c === row && !skipped) {
            skipped = true;
            continue;
          }
          index[o++] = c;
        }
      }
    }
  } finally {
    all.dispose();
    allT.dispose();
    sq.dispose();
    sqRow.dispose();
  }
  const distance = new Float32Array(n * k);
  for (let i = 0; i < n; i++) {
    for (let j = 0; j < k; j++) {
      distance[i * k + j] = euclidean(x, d, i, index[i * k + j]);
    }
  }
  // Exact distances may reorder near-ties that float32 ranked differently.
  for (let i = 0; i < n; i++) sortRow(index, distance, i * k, k);
  const table: NeighbourTable = { k, n, index, distance, medianDistance: median(distance), seconds: (Date.now() - t0) / 1000 };
  let perArray = cache.get(x);
  if (!perArray) cache.set(x, (perArray = new Map()));
  perArray.set(key, table);
  return table;
}

/** Euclidean distance between rows i and j (float64 accumulation). */
export function euclidean(x: Float32Array, d: number, i: number, j: number): number {
  let s = 0;
  const a = i * d;
  const b = j * d;
  for (let t = 0; t < d; t++) {
    const v = x[a + t] - x[b + t];
    s += v * v;
  }
  return Math.sqrt(s);
}

function sortRow(index: Int32Array, distance: Float32Array, start: number, k: number): void {
  const order = Array.from({ length: k }, (_, j) => j).sort((p, q) => distance[start + p] - distance[start + q] || index[start + p] - index[start + q]);
  const idx = order.map((j) => index[start + j]);
  const dist = order.map((j) => distance[start + j]);
  index.set(idx, start);
  distance.set(dist, start);
}

function median(v: Float32Array): number {
  if (v.length === 0) return NaN;
  const s = Float64Array.from(v).sort();
  const m = s.length >> 1;
  return s.length % 2 ? s[m] : (s[m - 1] + s[m]) / 2;
}
