import test from 'ava';
import fc from 'fast-check';
import { Rng } from '../../data/rng';
import {
  binomialHalfCdf,
  incompleteBeta,
  mcnemarExact,
  mcnemarPaired,
  SIGN_FLIP_DRAWS,
  SIGN_FLIP_SEED,
  SignFlipTest,
  meanCI,
  newcombePairedCI,
  normalCdf,
  normalQuantile,
  pairedCounts,
  pairedDiff,
  signFlipTest,
  studentTCdf,
  studentTQuantile,
  tTestP,
  verdict,
  welchDiff,
  wilsonCI,
} from '../../reports/stats';
import { compareCells } from '../../reports/summary';

const close = (a: number, b: number, tol: number) => Math.abs(a - b) <= tol;

// Two-sided 95% (and 99%) Student-t critical values from standard tables.
const T_TABLE: [number, number, number][] = [
  [0.975, 1, 12.7062047],
  [0.975, 2, 4.30265273],
  [0.975, 3, 3.18244631],
  [0.975, 4, 2.77644511],
  [0.975, 5, 2.57058184],
  [0.975, 9, 2.26215716],
  [0.975, 19, 2.09302405],
  [0.975, 30, 2.04227246],
  [0.975, 100, 1.98397152],
  [0.995, 2, 9.9248432],
  [0.995, 5, 4.03214298],
  [0.95, 10, 1.81246112],
];

for (const [p, df, expected] of T_TABLE) {
  test(`t quantile ${p}, df=${df} = ${expected}`, (t) => {
    t.true(close(studentTQuantile(p, df), expected, 1e-6), `got ${studentTQuantile(p, df)}`);
    t.true(close(studentTQuantile(1 - p, df), -expected, 1e-6));
  });
}

test('t quantile is far from the normal 1.96 for small df (no z approximation)', (t) => {
  t.true(studentTQuantile(0.975, 2) > 4.3);
  t.true(studentTQuantile(0.975, 4) > 2.77);
});

test('t CDF and quantile are inverse, also for fractional df (property)', (t) => {
  fc.assert(
    fc.property(fc.double({ min: 0.001, max: 0.999, noNaN: true }), fc.double({ min: 0.5, max: 200, noNaN: true }), (p, df) => {
      const q = studentTQuantile(p, df);
      return close(studentTCdf(q, df), p, 1e-9);
    }),
    { numRuns: 300 },
  );
  t.pass();
});

test('incomplete beta: I_x(1,1) = x, I_0.5(a,a) = 0.5, symmetry', (t) => {
  t.true(close(incompleteBeta(0.3, 1, 1), 0.3, 1e-12));
  t.true(close(incompleteBeta(0.5, 3.5, 3.5), 0.5, 1e-12));
  t.true(close(incompleteBeta(0.2, 2, 5), 1 - incompleteBeta(0.8, 5, 2), 1e-12));
  // I_x(a, 1) = x^a
  t.true(close(incompleteBeta(0.7, 3, 1), 0.7 ** 3, 1e-12));
});

test('meanCI of [1, 2, 3]: mean 2, sd 1, half-width t_{0.975,2}/sqrt(3) = 2.484', (t) => {
  const c = meanCI([1, 2, 3]);
  t.is(c.n, 3);
  t.true(close(c.mean, 2, 1e-12));
  t.true(close(c.sd as number, 1, 1e-12));
  t.true(close(c.halfWidth as number, 4.30265273 / Math.sqrt(3), 1e-6));
  t.true(close(c.lo as number, 2 - 2.48414, 1e-4));
});

test('meanCI with one value: no CI, says "n=1, no CI"', (t) => {
  const c = meanCI([0.9]);
  t.is(c.mean, 0.9);
  t.is(c.halfWidth, null);
  t.is(c.lo, null);
  t.is(c.hi, null);
  t.is(c.note, 'n=1, no CI');
  t.is(tTestP(c), null);
});

test('meanCI with no values: NaN mean, "no data"', (t) => {
  const c = meanCI([]);
  t.true(Number.isNaN(c.mean));
  t.is(c.note, 'no data');
});

test('paired difference pairs by seed and ignores unpaired seeds', (t) => {
  const a = new Map([
    [0, 0.8],
    [1, 0.82],
    [2, 0.79],
    [5, 0.1],
  ]);
  const b = new Map([
    [0, 0.75],
    [1, 0.8],
    [2, 0.74],
    [7, 0.9],
  ]);
  const d = pairedDiff(a, b);
  t.deepEqual(d.seeds, [0, 1, 2]);
  t.deepEqual(
    d.diffs.map((x) => Math.round(x * 1000) / 1000),
    [0.05, 0.02, 0.05],
  );
  t.true(close(d.mean, 0.04, 1e-12));
  // sd of (0.05, 0.02, 0.05) = 0.017320508; hw = 4.30265 * sd / sqrt(3)
  t.true(close(d.halfWidth as number, (4.30265273 * 0.0173205081) / Math.sqrt(3), 1e-7));
  // paired t: t = 0.04 / (0.01732/sqrt 3) = 4.0 on 2 df, two-sided p = 0.0572
  t.true(close(d.p as number, 0.05719095, 1e-6), `p = ${d.p}`);
});

test('paired beats unpaired when seeds share variation', (t) => {
  const a = [0.7, 0.8, 0.9];
  const b = [0.68, 0.78, 0.88];
  const paired = pairedDiff(new Map(a.map((v, i) => [i, v])), new Map(b.map((v, i) => [i, v])));
  const welch = welchDiff(a, b);
  t.true((paired.halfWidth as number) < 1e-9);
  t.true((welch.halfWidth as number) > 0.2);
});

test('exact McNemar: known p values', (t) => {
  t.is(mcnemarExact(0, 0).p, 1);
  t.is(mcnemarExact(5, 5).p, 1);
  t.true(close(mcnemarExact(0, 5).p, 0.0625, 1e-12)); // 2 / 32
  t.true(close(mcnemarExact(1, 9).p, 22 / 1024, 1e-12)); // 2 * 11 / 1024
  t.true(close(mcnemarExact(10, 2).p, 2 * (79 / 4096), 1e-12)); // 2 * (1 + 12 + 66) / 4096
  t.true(close(mcnemarExact(0, 1).p, 1, 1e-12));
  t.true(close(mcnemarExact(3, 12).p, 0.03515625, 1e-10)); // 2 * 576 / 32768
});

test('binomial CDF stays exact in log space for large n', (t) => {
  t.true(close(binomialHalfCdf(5000, 10000), 0.5 + 0.5 * Math.exp(-0.5 * Math.log(Math.PI * 5000)), 1e-4));
  // 3000 vs 3100: normal approximation with continuity correction gives p ~ 0.205
  t.true(close(mcnemarExact(3000, 3100).p, 0.205, 0.002));
  t.true(mcnemarExact(0, 2000).p < 1e-300 || mcnemarExact(0, 2000).p === 0);
});

test('McNemar from correctness vectors counts discordant pairs only', (t) => {
  const a = [1, 1, 1, 0, 0, 1, 1, 0];
  const b = [1, 0, 0, 0, 1, 0, 1, 0];
  const m = mcnemarPaired(a, b);
  t.is(m.b, 3);
  t.is(m.c, 1);
  t.true(close(m.p, mcnemarExact(3, 1).p, 1e-15));
});

/** A SignFlipTest with the given p and direction, for verdict tests. */
function fakeTest(p: number, direction: -1 | 0 | 1): SignFlipTest {
  return { method: 'exact', n: 100, seeds: [0, 1, 2], statistic: direction * 10, meanDiff: direction / 30, direction, favourA: 0, favourB: 0, p, draws: null, rngSeed: null, perSeed: [] };
}

/** Seed -> vector maps from arrays indexed by seed position. */
const bySeed = (vs: number[][]) => new Map(vs.map((v, s) => [s, v]));

/** Vectors for one seed: a, b of length n where d_i = a_i - b_i. */
function fromDiffs(ds: number[]): { a: number[]; b: number[] } {
  return { a: ds.map((d) => (d > 0 ? 1 : 0)), b: ds.map((d) => (d < 0 ? 1 : 0)) };
}

test('sign-flip test: every nonzero d_i of one sign gives p = 2 / 2^m exactly (m nonzero examples), whatever their sizes', (t) => {
  for (const m of [1, 2, 3, 5, 10, 17, 40, 300, 900]) {
    // Three seeds; example i is won by a in 1 + (i % 3) seeds, never by b; 7 further examples are ties.
    const seeds = [0, 1, 2].map((s) => fromDiffs([...Array.from({ length: m }, (_, i) => (s <= i % 3 ? 1 : 0)), 0, 0, 0, 0, 0, 0, 0]));
    const r = signFlipTest(bySeed(seeds.map((x) => x.a)), bySeed(seeds.map((x) => x.b)))!;
    t.is(r.method, 'exact');
    t.is(r.favourA, m);
    t.is(r.favourB, 0);
    t.is(r.direction, 1);
    t.is(r.p, Math.min(1, 2 / 2 ** m), `m=${m}`);
    // Mirrored: the same p, the other direction.
    const back = signFlipTest(bySeed(seeds.map((x) => x.b)), bySeed(seeds.map((x) => x.a)))!;
    t.is(back.p, r.p);
    t.is(back.direction, -1);
  }
});

test('sign-flip test: no nonzero d_i gives p = 1 and direction 0', (t) => {
  const v = [1, 0, 1, 1];
  const r = signFlipTest(bySeed([v, v]), bySeed([v, v]))!;
  t.is(r.p, 1);
  t.is(r.direction, 0);
  t.is(r.statistic, 0);
});

test('sign-flip test: exact p equals brute-force enumeration of every sign pattern', (t) => {
  fc.assert(
    fc.property(fc.array(fc.integer({ min: -3, max: 3 }), { minLength: 1, maxLength: 14 }), (ds) => {
      // Split each d_i over 3 seeds.
      const seeds = [0, 1, 2].map((s) => fromDiffs(ds.map((d) => (Math.abs(d) > s ? Math.sign(d) : 0))));
      const r = signFlipTest(bySeed(seeds.map((x) => x.a)), bySeed(seeds.map((x) => x.b)))!;
      const nz = ds.filter((d) => d !== 0).map(Math.abs);
      const tObs = Math.abs(ds.reduce((x, y) => x + y, 0));
      let hits = 0;
      for (let mask = 0; mask < 2 ** nz.length; mask++) {
        let s = 0;
        nz.forEach((d, i) => (s += mask & (1 << i) ? d : -d));
        if (Math.abs(s) >= tObs) hits++;
      }
      const want = hits / 2 ** nz.length;
      return r.statistic === ds.reduce((x, y) => x + y, 0) && Math.abs(r.p - want) <= 1e-12 * Math.max(1, want);
    }),
    { seed: 7, numRuns: 300 },
  );
  t.pass();
});

test('sign-flip test with one seed is the exact McNemar test', (t) => {
  const rng = new Rng(5);
  for (let k = 0; k < 50; k++) {
    const n = 20 + rng.int(300);
    const pa = rng.uniform();
    const a = Array.from({ length: n }, () => (rng.uniform() < pa ? 1 : 0));
    const b = a.map((x) => (rng.uniform() < 0.15 ? 1 - x : x));
    const r = signFlipTest(new Map([[0, a]]), new Map([[0, b]]))!;
    const m = mcnemarPaired(a, b);
    t.is(r.favourA, m.b);
    t.is(r.favourB, m.c);
    t.true(close(r.p, m.p, 1e-12 * Math.max(1e-300, m.p) + 1e-15), `${r.p} vs ${m.p}`);
    t.deepEqual(r.perSeed, [{ seed: 0, b: m.b, c: m.c, p: m.p }]);
  }
});

test('sign-flip test: Monte Carlo beyond the work limit agrees with the exact p, is seeded and recorded, and is deterministic', (t) => {
  const rng = new Rng(9);
  const vs = (shift: number) => [0, 1, 2].map(() => Array.from({ length: 400 }, (_, i) => (rng.uniform() < 0.6 + (i < 100 ? shift : 0) ? 1 : 0)));
  const a = bySeed(vs(0.08));
  const b = bySeed(vs(0));
  const exact = signFlipTest(a, b)!;
  const mc = signFlipTest(a, b, { exactWork: 0 })!;
  t.is(exact.method, 'exact');
  t.is(exact.draws, null);
  t.is(mc.method, 'monte-carlo');
  t.is(mc.draws, SIGN_FLIP_DRAWS);
  t.is(mc.rngSeed, SIGN_FLIP_SEED);
  t.true(SIGN_FLIP_DRAWS >= 20000);
  t.is(mc.statistic, exact.statistic);
  // Monte Carlo standard error is at most 0.5 / sqrt(20000) = 0.0035.
  t.true(Math.abs(mc.p - exact.p) < 0.012, `exact ${exact.p}, Monte Carlo ${mc.p}`);
  t.deepEqual(signFlipTest(a, b, { exactWork: 0 }), mc, 'same inputs, same Monte Carlo p');
  t.deepEqual(signFlipTest(a, b), exact);
  const other = signFlipTest(a, b, { exactWork: 0, seed: SIGN_FLIP_SEED + 1 })!;
  t.is(other.rngSeed, SIGN_FLIP_SEED + 1);
  t.true(Math.abs(other.p - exact.p) < 0.012);
});

test('the issue-10 case: A ahead on the same 40 examples in every seed, B on 20, 23, 26 others; the test follows Δ, never "significant for B"', (t) => {
  // 1,000 test examples, 3 seeds. Examples 0-39: A right, B wrong in every seed. Seed s: B right and A wrong on
  // 20, 23, 26 examples of its own (40-59, 60-82, 83-108). Every other example: both right.
  const n = 1000;
  const own = [
    [40, 60],
    [60, 83],
    [83, 109],
  ];
  const A: number[][] = [];
  const B: number[][] = [];
  for (let s = 0; s < 3; s++) {
    const a = new Array<number>(n).fill(1);
    const b = new Array<number>(n).fill(1);
    for (let i = 0; i < 40; i++) b[i] = 0;
    for (let i = own[s][0]; i < own[s][1]; i++) a[i] = 0;
    A.push(a);
    B.push(b);
  }
  const acc = (v: number[]) => v.reduce((x, y) => x + y, 0) / v.length;
  const values = (vs: number[][]) => vs.map((v, seed) => ({ seed, value: acc(v) }));
  const cmp = compareCells({ values: values(A), correct: bySeed(A) }, { values: values(B), correct: bySeed(B) });
  // Δ = +1.7 points, CI [+0.95, +2.45].
  t.true(close(cmp.diff.mean, 0.017, 1e-12));
  t.true(close(cmp.diff.lo as number, 0.0095, 1e-4));
  t.true(close(cmp.diff.hi as number, 0.0245, 1e-4));
  // The old pooled McNemar counted 40 examples for A and 69 for B: p = 0.007, "favouring B".
  const test = cmp.test!;
  t.is(test.favourA, 40);
  t.is(test.favourB, 69);
  t.true(mcnemarExact(40, 69).p < 0.01);
  // The sign-flip test sums what Δ sums: T = 3 x 40 - 69 = 51 = 3 x 1000 x Δ.
  t.is(test.statistic, 51);
  t.true(close(test.meanDiff, cmp.diff.mean, 1e-12));
  t.is(test.direction as number, Math.sign(cmp.diff.mean));
  t.is(test.method, 'exact');
  t.not(cmp.verdict.direction, -1, 'never significant in favour of B');
  // With the CI and the test agreeing, the difference is significant, for A.
  t.true(test.p < 0.05, `p=${test.p}`);
  t.true(cmp.verdict.significant);
  t.is(cmp.verdict.direction, 1);
  // Seen from B's side: the same verdict, mirrored.
  const back = compareCells({ values: values(B), correct: bySeed(B) }, { values: values(A), correct: bySeed(A) });
  t.is(back.test!.direction, -1);
  t.is(back.test!.p, test.p);
  t.is(back.verdict.direction, -1);
});

test('verdict: CI excluding 0 plus test p < 0.05 in the same direction is significant; any of them failing is not', (t) => {
  const d = meanCI([0.05, 0.06, 0.055]);
  t.true(verdict(d, fakeTest(1e-6, 1)).significant);
  t.is(verdict(d, fakeTest(1e-6, 1)).label, 'significant');
  t.is(verdict(d, fakeTest(1e-6, 1)).direction, 1);
  t.false(verdict(d, fakeTest(0.75, 1)).significant);
  t.true(verdict(d, null).significant);
  const noisy = meanCI([0.05, -0.04, 0.06]);
  t.false(verdict(noisy, fakeTest(1e-6, 1)).significant);
  t.is(verdict(noisy, null).label, 'not significant');
  t.is(verdict(noisy, null).direction, 0);
  const down = meanCI([-0.05, -0.06, -0.055]);
  t.is(verdict(down, fakeTest(1e-6, -1)).direction, -1);
});

test('verdict: a test pointing the other way than the CI is never significant', (t) => {
  const up = meanCI([0.02, 0.017, 0.014]);
  const v = verdict(up, fakeTest(0.007, -1));
  t.false(v.significant);
  t.is(v.direction, 0);
  t.is(v.label, 'not significant');
  t.regex(v.basis, /other way than Δ/);
  t.false(verdict(up, fakeTest(0.007, 0)).significant);
});

test('verdict with one seed: never significant, "n=1, no CI"', (t) => {
  const v = verdict(meanCI([0.2]), fakeTest(1e-30, 1));
  t.false(v.significant);
  t.is(v.label, 'n=1, no CI');
  t.is(v.direction, 0);
  t.regex(v.basis, /McNemar/);
});

test('calibration: the 95% t CI from 3 seeds covers the true mean ~95% of the time (a z interval would not)', (t) => {
  const rng = new Rng(11);
  const trials = 4000;
  let covered = 0;
  let coveredZ = 0;
  for (let k = 0; k < trials; k++) {
    const v = [rng.normal(), rng.normal(), rng.normal()];
    const c = meanCI(v);
    if ((c.lo as number) <= 0 && 0 <= (c.hi as number)) covered++;
    const hz = (1.959964 * (c.sd as number)) / Math.sqrt(3);
    if (Math.abs(c.mean) <= hz) coveredZ++;
  }
  t.true(Math.abs(covered / trials - 0.95) < 0.012, `t coverage ${covered / trials}`);
  t.true(coveredZ / trials < 0.9, `z coverage ${coveredZ / trials}`);
});

test('calibration: exact McNemar rejects at most ~5% under the null', (t) => {
  const rng = new Rng(12);
  const trials = 3000;
  let rejected = 0;
  for (let k = 0; k < trials; k++) {
    // 40 discordant pairs, each equally likely to favour either side.
    let b = 0;
    for (let i = 0; i < 40; i++) if (rng.uniform() < 0.5) b++;
    if (mcnemarExact(b, 40 - b).p < 0.05) rejected++;
  }
  t.true(rejected / trials <= 0.05 + 0.01, `rejection rate ${rejected / trials}`);
  t.true(rejected / trials > 0.01, 'not absurdly conservative');
});

test('calibration: the sign-flip test over 3 seeds rejects at most ~5% under the null', (t) => {
  const rng = new Rng(13);
  const trials = 1500;
  let rejected = 0;
  for (let k = 0; k < trials; k++) {
    // Two exchangeable schemes: per example a shared difficulty, each model right with that probability.
    const diff = Array.from({ length: 120 }, () => rng.uniform());
    const draw = () => [0, 1, 2].map(() => diff.map((q) => (rng.uniform() < q ? 1 : 0)));
    if (signFlipTest(bySeed(draw()), bySeed(draw()))!.p < 0.05) rejected++;
  }
  t.true(rejected / trials <= 0.05 + 0.012, `rejection rate ${rejected / trials}`);
  t.true(rejected / trials > 0.02, 'not absurdly conservative');
});

test('normal CDF and quantile: known values and inverse of each other', (t) => {
  t.true(close(normalCdf(0), 0.5, 1e-16));
  t.true(close(normalCdf(1), 0.8413447460685429, 1e-15));
  t.true(close(normalCdf(-1.96), 0.024997895148220435, 1e-15));
  t.true(close(normalCdf(3), 0.9986501019683699, 1e-15));
  t.true(close(normalQuantile(0.975), 1.959963984540054, 1e-12));
  t.true(close(normalQuantile(0.995), 2.5758293035489004, 1e-12));
  t.true(close(normalQuantile(0.05), -1.6448536269514722, 1e-12));
  for (const p of [1e-6, 0.01, 0.3, 0.7, 0.9, 0.999999]) t.true(close(normalCdf(normalQuantile(p)), p, 1e-13 * Math.max(1, p / (1 - p))), `p=${p}`);
  t.throws(() => normalQuantile(1), { message: /\(0, 1\)/ });
});

test('Wilson interval: the published value for 13/16 (0.5699 to 0.9341) and exact ends at 0/n and n/n', (t) => {
  // Fagerland, Lydersen & Laake, Statistical Analysis of Contingency Tables (2017), ch. 2 example.
  const w = wilsonCI(13, 16);
  t.is(w.lo.toFixed(4), '0.5699');
  t.is(w.hi.toFixed(4), '0.9341');
  t.is(wilsonCI(0, 50).lo, 0);
  t.is(wilsonCI(50, 50).hi, 1);
  // At 0/n the upper bound is z^2 / (n + z^2).
  const z = normalQuantile(0.975);
  t.true(close(wilsonCI(0, 50).hi, (z * z) / (50 + z * z), 1e-15));
  t.throws(() => wilsonCI(3, 2), { message: /0 <= k <= n/ });
});

test('Newcombe paired interval: the published value for the Cavo et al. table (-0.1186 to -0.0046), and swapping a and b mirrors it', (t) => {
  // Fagerland, Lydersen & Laake (2017), ch. 8: pairs [[59, 6], [16, 80]], Newcombe square-and-add.
  const ci = newcombePairedCI(59, 6, 16, 80);
  t.is(ci.lo.toFixed(4), '-0.1186');
  t.is(ci.hi.toFixed(4), '-0.0046');
  t.is(ci.examples, 161);
  const m = newcombePairedCI(59, 16, 6, 80);
  t.true(close(m.lo, -ci.hi, 1e-15) && close(m.hi, -ci.lo, 1e-15));
  fc.assert(
    fc.property(fc.nat(300), fc.nat(40), fc.nat(40), fc.nat(300), (a, b, c, d) => {
      fc.pre(a + b + c + d > 0);
      const x = newcombePairedCI(a, b, c, d);
      const delta = (b - c) / (a + b + c + d);
      return x.lo <= delta + 1e-12 && delta <= x.hi + 1e-12 && x.lo >= -1 - 1e-12 && x.hi <= 1 + 1e-12;
    }),
  );
});

test('Wilson and Newcombe paired intervals cover the true value about 95% of the time (seeded simulation, 200 examples)', (t) => {
  // Two correlated classifiers: per example, both right 0.70, a only 0.08, b only 0.04, neither 0.18; true a - b = 0.04, true accuracy of a 0.78.
  const rng = new Rng(7);
  const reps = 4000;
  let coverDiff = 0;
  let coverAcc = 0;
  for (let r = 0; r < reps; r++) {
    const a: number[] = [];
    const b: number[] = [];
    for (let i = 0; i < 200; i++) {
      const u = rng.uniform();
      a.push(u < 0.78 ? 1 : 0);
      b.push(u < 0.7 || (u >= 0.78 && u < 0.82) ? 1 : 0);
    }
    const c = pairedCounts(a, b);
    const d = newcombePairedCI(c.both, c.aOnly, c.bOnly, c.neither);
    if (d.lo <= 0.04 && 0.04 <= d.hi) coverDiff++;
    const w = wilsonCI(c.both + c.aOnly, 200);
    if (w.lo <= 0.78 && 0.78 <= w.hi) coverAcc++;
  }
  t.log(`coverage: difference ${coverDiff / reps}, accuracy ${coverAcc / reps}`);
  // Binomial sd of a 95% coverage estimate over 4,000 draws is 0.0034; Newcombe's paired interval is known to run slightly conservative.
  t.true(coverDiff / reps > 0.93 && coverDiff / reps < 0.985);
  t.true(coverAcc / reps > 0.93 && coverAcc / reps < 0.97);
});

test('pairedCounts: the 2x2 table of two correctness vectors over their common prefix', (t) => {
  t.deepEqual(pairedCounts([1, 1, 0, 0, 1], [1, 0, 1, 0]), { both: 1, aOnly: 1, bOnly: 1, neither: 1 });
});
