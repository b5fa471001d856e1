import test from 'ava';
import fc from 'fast-check';
import { Rng } from '../../data/rng';
import {
  binomialHalfCdf,
  incompleteBeta,
  mcnemarExact,
  mcnemarPaired,
  mcnemarPooled,
  meanCI,
  pairedDiff,
  studentTCdf,
  studentTQuantile,
  tTestP,
  verdict,
  welchDiff,
} from '../../reports/stats';

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
  [0.995, 2, 9.92484320],
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
  t.true(close(incompleteBeta(0.7, 3, 1), Math.pow(0.7, 3), 1e-12));
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
  t.true(close(binomialHalfCdf(5000, 10000) , 0.5 + 0.5 * Math.exp(-0.5 * Math.log(Math.PI * 5000)) , 1e-4));
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

test('pooled McNemar equals the classic test with one seed and counts each example once over seeds', (t) => {
  const a = [1, 1, 1, 0, 0, 1];
  const b = [0, 0, 1, 0, 1, 1];
  const one = mcnemarPooled(new Map([[0, a]]), new Map([[0, b]]));
  t.truthy(one);
  t.is(one!.b, 2);
  t.is(one!.c, 1);
  // The same disagreement under three seeds: still 2 vs 1 examples (not 6 vs 3).
  const three = mcnemarPooled(
    new Map([
      [0, a],
      [1, a],
      [2, a],
    ]),
    new Map([
      [0, b],
      [1, b],
      [2, b],
    ]),
  );
  t.is(three!.b, 2);
  t.is(three!.c, 1);
  t.is(three!.perSeed.length, 3);
  // Balanced per example across seeds -> a tie, dropped.
  const tie = mcnemarPooled(
    new Map([
      [0, [1]],
      [1, [0]],
    ]),
    new Map([
      [0, [0]],
      [1, [1]],
    ]),
  );
  t.is(tie!.b + tie!.c, 0);
  t.is(tie!.p, 1);
});

test('verdict: CI excluding 0 plus McNemar p < 0.05 is significant; either failing is not', (t) => {
  const d = meanCI([0.05, 0.06, 0.055]);
  t.true(verdict(d, { b: 40, c: 5, p: 1e-6 }).significant);
  t.is(verdict(d, { b: 40, c: 5, p: 1e-6 }).label, 'significant');
  t.false(verdict(d, { b: 6, c: 4, p: 0.75 }).significant);
  t.true(verdict(d, null).significant);
  const noisy = meanCI([0.05, -0.04, 0.06]);
  t.false(verdict(noisy, { b: 40, c: 5, p: 1e-6 }).significant);
  t.is(verdict(noisy, null).label, 'not significant');
});

test('verdict with one seed: never significant, "n=1, no CI"', (t) => {
  const v = verdict(meanCI([0.2]), { b: 100, c: 0, p: 1e-30 });
  t.false(v.significant);
  t.is(v.label, 'n=1, no CI');
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
