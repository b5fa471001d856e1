/**
 * Statistics for comparing training schemes across seeds.
 *
 * Two sources of noise separate any two numbers in a report:
 *  - training noise: another seed gives another model. Measured by the spread
 *    across seeds: mean +- Student-t confidence interval, and for a scheme
 *    against erm the *paired* difference by seed (same seed = same data order
 *    and initialisation, so pairing removes shared variation): Δ and its CI.
 *  - test-set noise: a finite test set. Measured by a paired sign-flip
 *    permutation test on the per-example correctness of the two models on the
 *    same examples.
 *
 * The test answers the same question as Δ. Per test example i,
 * d_i = sum over the paired seeds of (a correct - b correct), an integer in
 * [-S, S]; the statistic T = sum_i d_i equals S x n x (mean accuracy
 * difference), so its sign is the sign of Δ by construction. Under the null
 * hypothesis that the two schemes are exchangeable on every example, each d_i
 * is as likely to be +|d_i| as -|d_i|; the two-sided p value is the share of
 * the 2^m sign patterns (m examples with d_i != 0) whose |T*| reaches |T|.
 * Examples, not example x seed pairs, are the independent units: the same
 * test example seen under five seeds is one d_i. The distribution is computed
 * exactly (d_i take S values, so T* is a sum of S scaled binomials); beyond a
 * work limit far above the shipped profiles a seeded Monte Carlo of 20,000
 * draws replaces it, and the summary records which. With one seed this is
 * exactly McNemar's exact test.
 *
 * (An earlier pooled McNemar counted examples by the side they favoured on
 * balance, ignoring by how much: A ahead on 40 examples in all 3 seeds and B
 * ahead on 69 examples once each gave "B, p = 0.007" while Δ favoured A.)
 *
 * A difference is called significant only when the CI excludes 0, p < 0.05
 * and the two point the same way (see `verdict`). With a single seed the
 * training noise is unmeasured: no CI is reported ("n=1, no CI") and no
 * difference is called significant.
 */
import { Rng } from '../data/rng';

/**
 * Natural log of the gamma function, x > 0: shifted by the recurrence
 * Gamma(x + 1) = x Gamma(x) to x >= 15, then Stirling's series with Bernoulli
 * terms up to x^-11 (truncation error below 1e-16 there).
 */
export function logGamma(x: number): number {
  if (!(x > 0)) throw new Error(`logGamma needs x > 0, got ${x}`);
  let shift = 0;
  let z = x;
  while (z < 15) {
    shift += Math.log(z);
    z += 1;
  }
  const z2 = 1 / (z * z);
  const series = (1 / z) * (1 / 12 + z2 * (-1 / 360 + z2 * (1 / 1260 + z2 * (-1 / 1680 + z2 * (1 / 1188 + z2 * (-691 / 360360))))));
  return (z - 0.5) * Math.log(z) - z + 0.5 * Math.log(2 * Math.PI) + series - shift;
}

/** Continued fraction of the incomplete beta function (modified Lentz). */
function betaContinuedFraction(a: number, b: number, x: number): number {
  const tiny = 1e-300;
  let c = 1;
  let d = 1 - ((a + b) * x) / (a + 1);
  if (Math.abs(d) < tiny) d = tiny;
  d = 1 / d;
  let f = d;
  for (let m = 1; m <= 10000; m++) {
    const m2 = 2 * m;
    // Even step.
    let num = (m * (b - m) * x) / ((a + m2 - 1) * (a + m2));
    d = 1 + num * d;
    if (Math.abs(d) < tiny) d = tiny;
    c = 1 + num / c;
    if (Math.abs(c) < tiny) c = tiny;
    d = 1 / d;
    f *= d * c;
    // Odd step.
    num = (-(a + m) * (a + b + m) * x) / ((a + m2) * (a + m2 + 1));
    d = 1 + num * d;
    if (Math.abs(d) < tiny) d = tiny;
    c = 1 + num / c;
    if (Math.abs(c) < tiny) c = tiny;
    d = 1 / d;
    const delta = d * c;
    f *= delta;
    if (Math.abs(delta - 1) < 1e-15) break;
  }
  return f;
}

/** Regularised incomplete beta function I_x(a, b). */
export function incompleteBeta(x: number, a: number, b: number): number {
  if (x <= 0) return 0;
  if (x >= 1) return 1;
  const logFront = logGamma(a + b) - logGamma(a) - logGamma(b) + a * Math.log(x) + b * Math.log(1 - x);
  // The continued fraction converges fast for x < (a + 1) / (a + b + 2); use symmetry otherwise.
  if (x < (a + 1) / (a + b + 2)) return (Math.exp(logFront) * betaContinuedFraction(a, b, x)) / a;
  return 1 - (Math.exp(logFront) * betaContinuedFraction(b, a, 1 - x)) / b;
}

/** P(T <= t) for Student's t with `df` degrees of freedom (df > 0, need not be an integer). */
export function studentTCdf(t: number, df: number): number {
  if (!(df > 0)) throw new Error(`degrees of freedom must be > 0, got ${df}`);
  if (Number.isNaN(t)) return NaN;
  if (t === Infinity) return 1;
  if (t === -Infinity) return 0;
  const tail = 0.5 * incompleteBeta(df / (df + t * t), df / 2, 0.5);
  return t > 0 ? 1 - tail : tail;
}

function studentTPdf(t: number, df: number): number {
  return Math.exp(logGamma((df + 1) / 2) - logGamma(df / 2) - 0.5 * Math.log(df * Math.PI) - ((df + 1) / 2) * Math.log(1 + (t * t) / df));
}

/**
 * Quantile of Student's t: the t with P(T <= t) = p. Exact closed forms for
 * df = 1 and df = 2; otherwise Newton's method on the exact CDF (incomplete
 * beta), safeguarded by bisection, to ~1e-12. Never a normal approximation.
 */
export function studentTQuantile(p: number, df: number): number {
  if (!(p > 0 && p < 1)) throw new Error(`probability must be in (0, 1), got ${p}`);
  if (!(df > 0)) throw new Error(`degrees of freedom must be > 0, got ${df}`);
  if (p === 0.5) return 0;
  if (df === 1) return Math.tan(Math.PI * (p - 0.5));
  if (df === 2) return (2 * p - 1) / Math.sqrt(2 * p * (1 - p));
  if (p < 0.5) return -studentTQuantile(1 - p, df);
  // p > 0.5: the root is positive. Bracket it.
  let lo = 0;
  let hi = 1;
  while (studentTCdf(hi, df) < p) {
    lo = hi;
    hi *= 2;
    if (hi > 1e15) return hi;
  }
  let x = (lo + hi) / 2;
  for (let i = 0; i < 200; i++) {
    const f = studentTCdf(x, df) - p;
    if (f === 0) return x;
    if (f > 0) hi = x;
    else lo = x;
    let next = x - f / studentTPdf(x, df);
    if (!(next > lo && next < hi)) next = (lo + hi) / 2;
    if (Math.abs(next - x) <= 1e-13 * Math.max(1, Math.abs(x))) return next;
    x = next;
  }
  return x;
}

export interface MeanCI {
  n: number;
  mean: number;
  /** Sample standard deviation (n - 1); null when n < 2. */
  sd: number | null;
  /** Half-width of the two-sided CI: t_{(1+level)/2, n-1} * sd / sqrt(n); null when n < 2. */
  halfWidth: number | null;
  lo: number | null;
  hi: number | null;
  level: number;
  /** "n=1, no CI" or "no data" when there is no interval. */
  note?: string;
}

/** Mean and two-sided Student-t confidence interval (default 95%) of `values`. */
export function meanCI(values: readonly number[], level = 0.95): MeanCI {
  const n = values.length;
  if (n === 0) return { n: 0, mean: NaN, sd: null, halfWidth: null, lo: null, hi: null, level, note: 'no data' };
  const mean = values.reduce((a, b) => a + b, 0) / n;
  if (n === 1) return { n, mean, sd: null, halfWidth: null, lo: null, hi: null, level, note: 'n=1, no CI' };
  const ss = values.reduce((a, v) => a + (v - mean) * (v - mean), 0);
  const sd = Math.sqrt(ss / (n - 1));
  const halfWidth = studentTQuantile((1 + level) / 2, n - 1) * (sd / Math.sqrt(n));
  return { n, mean, sd, halfWidth, lo: mean - halfWidth, hi: mean + halfWidth, level };
}

/** Two-sided p value of a one-sample t test of mean = 0; null when n < 2 or sd = 0 with mean = 0. */
export function tTestP(c: MeanCI): number | null {
  if (c.n < 2 || c.sd === null) return null;
  if (c.sd === 0) return c.mean === 0 ? 1 : 0;
  const t = c.mean / (c.sd / Math.sqrt(c.n));
  return Math.min(1, 2 * studentTCdf(-Math.abs(t), c.n - 1));
}

export interface PairedDiff extends MeanCI {
  /** Seeds present in both. */
  seeds: number[];
  /** a - b per paired seed. */
  diffs: number[];
  /** Two-sided paired t-test p value; null when n < 2. */
  p: number | null;
}

/** Paired difference a - b over the seeds present in both, with its t CI. */
export function pairedDiff(a: ReadonlyMap<number, number>, b: ReadonlyMap<number, number>, level = 0.95): PairedDiff {
  const seeds = [...a.keys()].filter((s) => b.has(s)).sort((x, y) => x - y);
  const diffs = seeds.map((s) => (a.get(s) as number) - (b.get(s) as number));
  const ci = meanCI(diffs, level);
  return { ...ci, seeds, diffs, p: tTestP(ci) };
}

/** Welch's two-sample difference mean(a) - mean(b) with CI (Welch-Satterthwaite df); unpaired. */
export function welchDiff(a: readonly number[], b: readonly number[], level = 0.95): MeanCI {
  const ca = meanCI(a, level);
  const cb = meanCI(b, level);
  const mean = ca.mean - cb.mean;
  const n = Math.min(ca.n, cb.n);
  if (ca.sd === null || cb.sd === null) {
    return { n, mean, sd: null, halfWidth: null, lo: null, hi: null, level, note: n === 0 ? 'no data' : 'n=1, no CI' };
  }
  const va = (ca.sd * ca.sd) / ca.n;
  const vb = (cb.sd * cb.sd) / cb.n;
  const se = Math.sqrt(va + vb);
  if (se === 0) return { n, mean, sd: 0, halfWidth: 0, lo: mean, hi: mean, level };
  const df = ((va + vb) * (va + vb)) / ((va * va) / (ca.n - 1) + (vb * vb) / (cb.n - 1));
  const halfWidth = studentTQuantile((1 + level) / 2, df) * se;
  return { n, mean, sd: se, halfWidth, lo: mean - halfWidth, hi: mean + halfWidth, level };
}

/** log(exp(a) + exp(b)) without overflow. */
function logAdd(a: number, b: number): number {
  if (a === -Infinity) return b;
  if (b === -Infinity) return a;
  const m = Math.max(a, b);
  return m + Math.log(Math.exp(a - m) + Math.exp(b - m));
}

/** P(X <= k) for X ~ Binomial(n, 1/2), exact summation in log space. */
export function binomialHalfCdf(k: number, n: number): number {
  if (k < 0) return 0;
  if (k >= n) return 1;
  let logTerm = -n * Math.LN2; // log C(n, 0) / 2^n
  let acc = logTerm;
  for (let i = 1; i <= k; i++) {
    logTerm += Math.log(n - i + 1) - Math.log(i);
    acc = logAdd(acc, logTerm);
  }
  return Math.min(1, Math.exp(acc));
}

export interface McNemar {
  /** Units favouring A (A right, B wrong). */
  b: number;
  /** Units favouring B (B right, A wrong). */
  c: number;
  /** Two-sided exact p value: min(1, 2 P(X <= min(b, c))), X ~ Bin(b + c, 1/2); 1 when b + c = 0. */
  p: number;
}

/** Exact two-sided McNemar test from the discordant counts. */
export function mcnemarExact(b: number, c: number): McNemar {
  if (!Number.isInteger(b) || !Number.isInteger(c) || b < 0 || c < 0) throw new Error(`McNemar counts must be integers >= 0, got (${b}, ${c})`);
  const n = b + c;
  const p = n === 0 ? 1 : Math.min(1, 2 * binomialHalfCdf(Math.min(b, c), n));
  return { b, c, p };
}

/** McNemar on two per-example correctness vectors (1/0) over the same examples (the first min length). */
export function mcnemarPaired(a: readonly number[], bv: readonly number[]): McNemar & { n: number } {
  const n = Math.min(a.length, bv.length);
  let b = 0;
  let c = 0;
  for (let i = 0; i < n; i++) {
    const x = a[i] ? 1 : 0;
    const y = bv[i] ? 1 : 0;
    if (x > y) b++;
    else if (y > x) c++;
  }
  return { ...mcnemarExact(b, c), n };
}

/** Binomial(m, 1/2) probabilities P(X = j), j = 0..m (exact powers of two at the ends for m <= 1000). */
export function binomialHalfPmf(m: number): Float64Array {
  const pmf = new Float64Array(m + 1);
  const half = Math.floor(m / 2);
  if (m <= 1000) {
    // Recurrence from P(X = 0) = 2^-m outwards, mirrored: P(X = m - j) = P(X = j).
    pmf[0] = 2 ** -m;
    for (let j = 0; j < half; j++) pmf[j + 1] = (pmf[j] * (m - j)) / (j + 1);
  } else {
    const logFront = logGamma(m + 1) - m * Math.LN2;
    for (let j = 0; j <= half; j++) pmf[j] = Math.exp(logFront - logGamma(j + 1) - logGamma(m - j + 1));
  }
  for (let j = 0; j <= half; j++) pmf[m - j] = pmf[j];
  return pmf;
}

/** Work (multiply-adds) above which the sign-flip test switches from the exact distribution to Monte Carlo. */
export const SIGN_FLIP_EXACT_WORK = 3e7;
/** Monte Carlo draws and generator seed of the sign-flip test beyond the exact work limit. */
export const SIGN_FLIP_DRAWS = 20000;
export const SIGN_FLIP_SEED = 20251;

export interface SignFlipTest {
  /** "exact": the whole sign-flip distribution; "monte-carlo": `draws` seeded draws. */
  method: 'exact' | 'monte-carlo';
  /** Examples compared: the common prefix of every paired seed's vectors. */
  n: number;
  /** The paired seeds summed over. */
  seeds: number[];
  /** T = sum_i d_i with d_i = sum over seeds of (a correct - b correct) on example i. */
  statistic: number;
  /** T / (seeds x n): the mean difference a - b in accuracy (equals Δ when each value is its vector's share of correct examples). */
  meanDiff: number;
  /** Sign of T: +1 favours a, -1 favours b, 0 neither. By construction the sign of the difference of accuracies. */
  direction: -1 | 0 | 1;
  /** Examples with d_i > 0 (favouring a) and d_i < 0 (favouring b). */
  favourA: number;
  favourB: number;
  /** Two-sided p value: P(|T*| >= |T|) when the sign of every d_i is flipped by a fair coin. */
  p: number;
  /** Monte Carlo only (else null): number of draws and the generator's seed. */
  draws: number | null;
  rngSeed: number | null;
  /** The classic exact McNemar test of each paired seed (for reading; the pooled p above is the test). */
  perSeed: { seed: number; b: number; c: number; p: number }[];
}

/** Exact two-sided sign-flip p value: T* = sum_k k (2 X_k - m_k), X_k ~ Bin(m_k, 1/2), convolved; counts[k] = m_k. */
function signFlipExact(counts: number[], t: number): number {
  let span = 0; // current support: -span..span
  let dist = new Float64Array([1]);
  for (let k = 1; k < counts.length; k++) {
    const m = counts[k];
    if (m === 0) continue;
    const pmf = binomialHalfPmf(m);
    const next = new Float64Array(2 * (span + k * m) + 1);
    for (let i = 0; i < dist.length; i++) {
      const w = dist[i];
      if (w === 0) continue;
      // Old value i - span, plus k (2j - m): index i - span + k(2j - m) + span + k m = i + 2kj.
      for (let j = 0; j <= m; j++) next[i + 2 * k * j] += w * pmf[j];
    }
    span += k * m;
    dist = next;
  }
  const a = Math.abs(t);
  if (a === 0) return 1;
  let p = 0;
  for (let v = a; v <= span; v++) p += dist[span + v] + dist[span - v];
  return Math.min(1, p);
}

/** Seeded Monte Carlo two-sided sign-flip p value, (1 + hits) / (1 + draws); each X_k drawn as the popcount of m_k random bits. */
function signFlipMonteCarlo(counts: number[], t: number, draws: number, seed: number): number {
  const rng = new Rng(seed);
  const a = Math.abs(t);
  const popcount = (x: number) => {
    x -= (x >>> 1) & 0x55555555;
    x = (x & 0x33333333) + ((x >>> 2) & 0x33333333);
    return (Math.imul((x + (x >>> 4)) & 0x0f0f0f0f, 0x01010101) >>> 24) & 0xff;
  };
  let hits = 0;
  for (let d = 0; d < draws; d++) {
    let s = 0;
    for (let k = 1; k < counts.length; k++) {
      let left = counts[k];
      let ones = 0;
      while (left >= 32) {
        ones += popcount(rng.nextUint32());
        left -= 32;
      }
      if (left > 0) ones += popcount(rng.nextUint32() >>> (32 - left));
      s += k * (2 * ones - counts[k]);
    }
    if (Math.abs(s) >= a) hits++;
  }
  return (1 + hits) / (1 + draws);
}

/**
 * Paired sign-flip permutation test of the difference a - b, summed over seeds
 * (see the module comment): per example d_i = sum_s (a_s,i - b_s,i); under the
 * null each d_i is as likely to carry either sign, and the statistic
 * T = sum_i d_i is compared with its sign-flip distribution. Exact
 * (a convolution of binomials, since d_i are integers in [-S, S]) while that
 * costs at most `SIGN_FLIP_EXACT_WORK`, else `SIGN_FLIP_DRAWS` Monte Carlo
 * draws with a fixed seed (recorded). With one seed it is exactly McNemar's
 * exact test. Null when no seed has vectors on both sides.
 */
export function signFlipTest(
  a: ReadonlyMap<number, readonly number[]>,
  b: ReadonlyMap<number, readonly number[]>,
  opts: { exactWork?: number; draws?: number; seed?: number } = {},
): SignFlipTest | null {
  const seeds = [...a.keys()].filter((s) => b.has(s)).sort((x, y) => x - y);
  if (seeds.length === 0) return null;
  let n = Infinity;
  for (const s of seeds) n = Math.min(n, (a.get(s) as number[]).length, (b.get(s) as number[]).length);
  if (!Number.isFinite(n) || n === 0) return null;
  const d = new Int32Array(n);
  const perSeed: SignFlipTest['perSeed'] = [];
  for (const s of seeds) {
    const va = a.get(s) as number[];
    const vb = b.get(s) as number[];
    for (let i = 0; i < n; i++) d[i] += (va[i] ? 1 : 0) - (vb[i] ? 1 : 0);
    const m = mcnemarPaired(va.slice(0, n), vb.slice(0, n));
    perSeed.push({ seed: s, b: m.b, c: m.c, p: m.p });
  }
  const counts = new Array<number>(seeds.length + 1).fill(0); // counts[k]: examples with |d_i| = k
  let statistic = 0;
  let favourA = 0;
  let favourB = 0;
  for (let i = 0; i < n; i++) {
    statistic += d[i];
    if (d[i] > 0) favourA++;
    else if (d[i] < 0) favourB++;
    counts[Math.abs(d[i])]++;
  }
  counts[0] = 0;
  let work = 0;
  let span = 0;
  for (let k = 1; k < counts.length; k++) {
    if (counts[k] === 0) continue;
    work += (2 * span + 1) * (counts[k] + 1);
    span += k * counts[k];
  }
  const exact = work <= (opts.exactWork ?? SIGN_FLIP_EXACT_WORK);
  const draws = opts.draws ?? SIGN_FLIP_DRAWS;
  const rngSeed = opts.seed ?? SIGN_FLIP_SEED;
  const p = exact ? signFlipExact(counts, statistic) : signFlipMonteCarlo(counts, statistic, draws, rngSeed);
  return {
    method: exact ? 'exact' : 'monte-carlo',
    n,
    seeds,
    statistic,
    meanDiff: statistic / (seeds.length * n),
    direction: statistic > 0 ? 1 : statistic < 0 ? -1 : 0,
    favourA,
    favourB,
    p,
    draws: exact ? null : draws,
    rngSeed: exact ? null : rngSeed,
    perSeed,
  };
}

export interface Verdict {
  significant: boolean;
  /** "significant", "not significant", "n=1, no CI", "no paired seeds". */
  label: string;
  /** The side a significant difference favours: +1 the first (a), -1 the second (b); 0 when not significant. */
  direction: -1 | 0 | 1;
  /** What the verdict rests on, in words. */
  basis: string;
}

const sign = (x: number): -1 | 0 | 1 => (x > 0 ? 1 : x < 0 ? -1 : 0);

/** "sign-flip p=0.014 (exact)" or "... (Monte Carlo, 20000 draws)". */
function testText(t: SignFlipTest): string {
  return `sign-flip p=${formatP(t.p)} (${t.method === 'exact' ? 'exact' : `Monte Carlo, ${t.draws} draws`})`;
}

/**
 * Significant (at level 1 - alpha, default 0.05) when the seed-paired CI of the
 * difference excludes 0 and, where per-example correctness exists, the
 * sign-flip test of the same difference gives p < alpha and points the same
 * way. With one paired seed: never significant (training noise is unmeasured);
 * the label says "n=1, no CI". No correction for multiple comparisons is
 * applied: read many columns with that in mind.
 */
export function verdict(diff: MeanCI, test: SignFlipTest | null, alpha = 0.05): Verdict {
  if (diff.n === 0) return { significant: false, label: 'no paired seeds', direction: 0, basis: 'no seed has results for both' };
  if (diff.n === 1 || diff.lo === null || diff.hi === null) {
    const m = test ? `; exact McNemar p=${formatP(test.p)} on one pair of models` : '';
    return { significant: false, label: 'n=1, no CI', direction: 0, basis: `one paired seed: training noise unmeasured${m}` };
  }
  const ciExcludes = diff.lo > 0 || diff.hi < 0;
  const parts = [`${Math.round(diff.level * 100)}% CI over ${diff.n} seeds ${ciExcludes ? 'excludes' : 'includes'} 0`];
  let testOk = true;
  if (test) {
    const agree = test.direction === sign(diff.mean);
    testOk = test.p < alpha && agree;
    parts.push(testText(test) + (agree ? '' : ', pointing the other way than Δ'));
  }
  const significant = ciExcludes && testOk;
  return { significant, label: significant ? 'significant' : 'not significant', direction: significant ? sign(diff.mean) : 0, basis: parts.join('; ') };
}

/** p value for display: 3 significant digits, "<1e-4" below that. */
export function formatP(p: number): string {
  if (!Number.isFinite(p)) return 'n/a';
  if (p < 1e-4) return '<1e-4';
  if (p >= 0.1) return p.toFixed(2);
  return p.toPrecision(2);
}

/**
 * Standard normal CDF. For |x| <= 10: 1/2 + pdf(x) * sum_k x^(2k+1) / (2k+1)!!
 * (every term has the sign of x, so nothing cancels; relative error ~1e-15 in
 * the centre). Beyond 10 the tail is below 1e-23: 0 or 1.
 */
export function normalCdf(x: number): number {
  if (Number.isNaN(x)) return NaN;
  if (x > 10) return 1;
  if (x < -10) return 0;
  let term = x;
  let sum = x;
  for (let k = 1; k < 500 && Math.abs(term) > 1e-17 * Math.abs(sum); k++) {
    term *= (x * x) / (2 * k + 1);
    sum += term;
  }
  return 0.5 + (Math.exp(-0.5 * x * x) / Math.sqrt(2 * Math.PI)) * sum;
}

/** Quantile of the standard normal: Newton's method on `normalCdf`, safeguarded by bisection, for p in (0, 1). */
export function normalQuantile(p: number): number {
  if (!(p > 0 && p < 1)) throw new Error(`probability must be in (0, 1), got ${p}`);
  if (p === 0.5) return 0;
  if (p < 0.5) return -normalQuantile(1 - p);
  let lo = 0;
  let hi = 10;
  let x = 1;
  for (let i = 0; i < 200; i++) {
    const f = normalCdf(x) - p;
    if (f === 0) return x;
    if (f > 0) hi = x;
    else lo = x;
    let next = x - f / (Math.exp(-0.5 * x * x) / Math.sqrt(2 * Math.PI));
    if (!(next > lo && next < hi)) next = (lo + hi) / 2;
    if (Math.abs(next - x) <= 1e-14 * Math.max(1, x)) return next;
    x = next;
  }
  return x;
}

/**
 * A confidence interval over test examples, for a comparison made on one
 * seed: it measures test-set noise only (another seed's model is not in it).
 */
export interface TestSetCI {
  /** "wilson": an accuracy (Wilson score interval); "newcombe-paired": a difference of accuracies on the same examples. */
  method: 'wilson' | 'newcombe-paired';
  lo: number;
  hi: number;
  level: number;
  /** Test examples the interval rests on. */
  examples: number;
}

/** The Wilson score interval of a proportion k / n (no continuity correction). */
export function wilsonCI(k: number, n: number, level = 0.95): TestSetCI {
  if (!Number.isInteger(k) || !Number.isInteger(n) || n < 1 || k < 0 || k > n) throw new Error(`Wilson interval needs integers 0 <= k <= n, n >= 1; got k=${k}, n=${n}`);
  const z = normalQuantile((1 + level) / 2);
  const p = k / n;
  const z2n = (z * z) / n;
  const centre = (p + z2n / 2) / (1 + z2n);
  const half = (z / (1 + z2n)) * Math.sqrt((p * (1 - p)) / n + z2n / (4 * n));
  // At k = 0 or k = n the bound is exactly 0 or 1 in exact arithmetic.
  return { method: 'wilson', lo: k === 0 ? 0 : centre - half, hi: k === n ? 1 : centre + half, level, examples: n };
}

/**
 * Newcombe's square-and-add interval for the difference of two paired
 * proportions (Newcombe 1998, Stat Med 17:2635; the form recommended by
 * Fagerland, Lydersen & Laake 2014): the two marginal Wilson intervals,
 * combined with the estimated correlation phi of the two proportions, where
 * ad - bc is shrunk towards 0 by n/2 when positive. Counts over the same n
 * examples: `both` right under a and b, `aOnly`, `bOnly`, `neither`.
 * Estimates a - b = (aOnly - bOnly) / n.
 */
export function newcombePairedCI(both: number, aOnly: number, bOnly: number, neither: number, level = 0.95): TestSetCI {
  const counts = [both, aOnly, bOnly, neither];
  if (counts.some((c) => !Number.isInteger(c) || c < 0)) throw new Error(`paired counts must be integers >= 0, got (${counts.join(', ')})`);
  const n = both + aOnly + bOnly + neither;
  if (n < 1) throw new Error('paired counts must cover at least one example');
  const ka = both + aOnly;
  const kb = both + bOnly;
  const pa = ka / n;
  const pb = kb / n;
  const wa = wilsonCI(ka, n, level);
  const wb = wilsonCI(kb, n, level);
  let phi = 0;
  const margins = ka * (n - ka) * kb * (n - kb);
  if (margins > 0) {
    const cross = both * neither - aOnly * bOnly;
    const shrunk = cross > n / 2 ? cross - n / 2 : Math.min(cross, 0);
    phi = shrunk / Math.sqrt(margins);
  }
  const d = pa - pb;
  const la = pa - wa.lo;
  const ua = wa.hi - pa;
  const lb = pb - wb.lo;
  const ub = wb.hi - pb;
  const lo = d - Math.sqrt(Math.max(0, la * la + ub * ub - 2 * phi * la * ub));
  const hi = d + Math.sqrt(Math.max(0, lb * lb + ua * ua - 2 * phi * lb * ua));
  return { method: 'newcombe-paired', lo, hi, level, examples: n };
}

/** The paired 2x2 counts of two per-example correctness vectors (1/0) over their common prefix. */
export function pairedCounts(a: readonly number[], b: readonly number[]): { both: number; aOnly: number; bOnly: number; neither: number } {
  const n = Math.min(a.length, b.length);
  const c = { both: 0, aOnly: 0, bOnly: 0, neither: 0 };
  for (let i = 0; i < n; i++) {
    if (a[i] && b[i]) c.both++;
    else if (a[i]) c.aOnly++;
    else if (b[i]) c.bOnly++;
    else c.neither++;
  }
  return c;
}
