/**
 * Statistics for comparing training schemes across seeds.
 *
 * Two sources of noise separate any two numbers in a report:
 *  - training noise: another seed gives another model. Measured by the spread
 *    across seeds: mean +- Student-t confidence interval, and for a scheme
 *    against erm the *paired* difference by seed (same seed = same data order
 *    and initialisation, so pairing removes shared variation).
 *  - test-set noise: a finite test set. Measured by an exact McNemar test on the
 *    per-example correctness of the two models on the same examples.
 *
 * A difference is called significant only when both agree (see `verdict`).
 * With a single seed the training noise is unmeasured: no CI is reported
 * ("n=1, no CI") and no difference is called significant.
 *
 * McNemar across seeds (our choice, "pooled by example"): for each test
 * example we count, over the paired seeds, how often scheme A was right where B
 * was wrong minus the reverse. Examples with a positive balance favour A, a
 * negative balance favours B, zero are ties and drop out; the two-sided exact
 * binomial (sign) test on these counts is the p value. With one seed this is
 * exactly McNemar's exact test. Pooling by example (rather than summing
 * discordant pairs over seeds) keeps the counted units independent: the same
 * test example seen under five seeds counts once, not five times. The per-seed
 * McNemar tests are reported as well.
 */

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

export interface PooledMcNemar extends McNemar {
  /** Examples compared (common prefix over every paired seed). */
  n: number;
  seeds: number[];
  perSeed: { seed: number; b: number; c: number; p: number }[];
}

/**
 * McNemar pooled by example over seeds (see the module comment): per example
 * the balance sum_s (a_s - b_s) decides which side it favours; the exact sign
 * test on those counts. Equal to `mcnemarPaired` for one seed. Null when no
 * seed has correctness vectors for both.
 */
export function mcnemarPooled(a: ReadonlyMap<number, readonly number[]>, b: ReadonlyMap<number, readonly number[]>): PooledMcNemar | null {
  const seeds = [...a.keys()].filter((s) => b.has(s)).sort((x, y) => x - y);
  if (seeds.length === 0) return null;
  let n = Infinity;
  for (const s of seeds) n = Math.min(n, (a.get(s) as number[]).length, (b.get(s) as number[]).length);
  if (!Number.isFinite(n) || n === 0) return null;
  const balance = new Int32Array(n);
  const perSeed: PooledMcNemar['perSeed'] = [];
  for (const s of seeds) {
    const va = a.get(s) as number[];
    const vb = b.get(s) as number[];
    for (let i = 0; i < n; i++) balance[i] += (va[i] ? 1 : 0) - (vb[i] ? 1 : 0);
    const m = mcnemarPaired(va.slice(0, n), vb.slice(0, n));
    perSeed.push({ seed: s, b: m.b, c: m.c, p: m.p });
  }
  let pos = 0;
  let neg = 0;
  for (let i = 0; i < n; i++) {
    if (balance[i] > 0) pos++;
    else if (balance[i] < 0) neg++;
  }
  return { ...mcnemarExact(pos, neg), n, seeds, perSeed };
}

export interface Verdict {
  significant: boolean;
  /** "significant", "not significant", "n=1, no CI", "no paired seeds". */
  label: string;
  /** What the verdict rests on, in words. */
  basis: string;
}

/**
 * Significant (at level 1 - alpha, default 0.05) when the seed-paired CI of the
 * difference excludes 0 and, where per-example correctness exists, the pooled
 * McNemar p < alpha as well. With one paired seed: never significant (training
 * noise is unmeasured); the label says "n=1, no CI". No correction for
 * multiple comparisons is applied: read many columns with that in mind.
 */
export function verdict(diff: MeanCI, mcnemar: McNemar | null, alpha = 0.05): Verdict {
  if (diff.n === 0) return { significant: false, label: 'no paired seeds', basis: 'no seed has results for both' };
  if (diff.n === 1 || diff.lo === null || diff.hi === null) {
    const m = mcnemar ? `; McNemar p=${formatP(mcnemar.p)} on one pair of models` : '';
    return { significant: false, label: 'n=1, no CI', basis: `one paired seed: training noise unmeasured${m}` };
  }
  const ciExcludes = diff.lo > 0 || diff.hi < 0;
  const mOk = mcnemar === null || mcnemar.p < alpha;
  const significant = ciExcludes && mOk;
  const parts = [`${Math.round(diff.level * 100)}% CI over ${diff.n} seeds ${ciExcludes ? 'excludes' : 'includes'} 0`];
  if (mcnemar) parts.push(`McNemar p=${formatP(mcnemar.p)}`);
  return { significant, label: significant ? 'significant' : 'not significant', basis: parts.join('; ') };
}

/** p value for display: 3 significant digits, "<1e-4" below that. */
export function formatP(p: number): string {
  if (!Number.isFinite(p)) return 'n/a';
  if (p < 1e-4) return '<1e-4';
  if (p >= 0.1) return p.toFixed(2);
  return p.toPrecision(2);
}
