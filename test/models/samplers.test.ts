import test from 'ava';
import { Rng } from '../../data/rng';
import { asymLambdaMean, sampleAsymLambda, sampleMixupLambda } from '../../models/schemes/samplers';

function drawMany(n: number, draw: () => number): Float64Array {
  const out = new Float64Array(n);
  for (let i = 0; i < n; i++) out[i] = draw();
  return out;
}

/** Kolmogorov-Smirnov statistic of the sample against a continuous CDF. */
function ksStatistic(sample: Float64Array, cdf: (t: number) => number): number {
  const s = Float64Array.from(sample).sort();
  const n = s.length;
  let d = 0;
  for (let i = 0; i < n; i++) {
    const f = cdf(s[i]);
    d = Math.max(d, f - i / n, (i + 1) / n - f);
  }
  return d;
}

/** 1% critical value of the one-sample KS statistic for large n. */
const ks01 = (n: number) => 1.63 / Math.sqrt(n);

const mean = (v: Float64Array) => v.reduce((a, b) => a + b, 0) / v.length;

test('asym lambda at alpha 0.1: Beta(1.1, 0.1) in the numpy convention (mean 0.9167, 80.5% above 0.9)', (t) => {
  const rng = new Rng(1);
  const v = drawMany(200_000, () => sampleAsymLambda(0.1, rng));
  const m = mean(v);
  const above = v.filter((x) => x > 0.9).length / v.length;
  t.log(`mean ${m.toFixed(5)}, P(lambda > 0.9) ${above.toFixed(5)}`);
  t.true(Math.abs(asymLambdaMean(0.1) - 1.1 / 1.2) < 1e-12);
  t.true(Math.abs(m - 0.9167) < 0.01, `mean ${m}`);
  // scipy.stats.beta(1.1, 0.1).sf(0.9) = 0.80508
  t.true(Math.abs(above - 0.805) < 0.01, `P(lambda > 0.9) = ${above}`);
  t.true(v.every((x) => x >= 0 && x <= 1));
});

test('asym lambda is Beta(alpha + 1, alpha), not the reversed Beta(alpha, alpha + 1)', (t) => {
  const rng = new Rng(2);
  const n = 100_000;
  // Beta(2, 1) has CDF t^2; the reversed Beta(1, 2) has CDF 1 - (1 - t)^2.
  const v = drawMany(n, () => sampleAsymLambda(1, rng));
  const d = ksStatistic(v, (x) => x * x);
  const dReversed = ksStatistic(v, (x) => 1 - (1 - x) * (1 - x));
  t.log(`KS vs Beta(2,1) ${d.toFixed(5)}, vs Beta(1,2) ${dReversed.toFixed(3)}`);
  t.true(d < ks01(n), `KS ${d}`);
  t.true(dReversed > 0.2);
  for (const alpha of [0.5, 2]) {
    const w = drawMany(n, () => sampleAsymLambda(alpha, rng));
    const a = alpha + 1;
    const b = alpha;
    const sd = Math.sqrt((a * b) / ((a + b) ** 2 * (a + b + 1)));
    t.true(Math.abs(mean(w) - asymLambdaMean(alpha)) < (4 * sd) / Math.sqrt(n), `alpha ${alpha}: mean ${mean(w)}`);
  }
});

test('mixup lambda at alpha 1 is uniform on [0, 1] (KS and decile counts)', (t) => {
  const rng = new Rng(3);
  const n = 100_000;
  const v = drawMany(n, () => sampleMixupLambda(1, rng));
  const d = ksStatistic(v, (x) => x);
  t.log(`KS vs U(0,1) ${d.toFixed(5)} (1% critical ${ks01(n).toFixed(5)})`);
  t.true(d < ks01(n));
  const counts = new Array<number>(10).fill(0);
  for (const x of v) counts[Math.min(9, Math.floor(x * 10))]++;
  const sd = Math.sqrt(n * 0.1 * 0.9);
  for (const c of counts) t.true(Math.abs(c - n / 10) < 4 * sd, `decile count ${c}`);
});

test('mixup lambda at alpha 0.5 is the arcsine law Beta(0.5, 0.5) (the shape < 1 path)', (t) => {
  const rng = new Rng(4);
  const n = 100_000;
  const v = drawMany(n, () => sampleMixupLambda(0.5, rng));
  const d = ksStatistic(v, (x) => (2 / Math.PI) * Math.asin(Math.sqrt(x)));
  t.true(d < ks01(n), `KS ${d}`);
  // symmetric: mean 1/2
  t.true(Math.abs(mean(v) - 0.5) < 4 * Math.sqrt(0.125 / n));
});

test('samplers are pure functions of the Rng: same seed, same draws', (t) => {
  const a = new Rng(9);
  const b = new Rng(9);
  for (let i = 0; i < 100; i++) {
    t.is(sampleAsymLambda(0.3, a), sampleAsymLambda(0.3, b));
    t.is(sampleMixupLambda(0.3, a), sampleMixupLambda(0.3, b));
  }
});
