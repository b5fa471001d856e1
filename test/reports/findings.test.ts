import test from 'ava';
import * as path from 'path';
import { SanityFlag } from '../../contract/results';
import { checkGradients, checkIterativeVsSingleStep, checkLargeEps, checkMonotone, checkNoiseWeaker, checkOutcomeBatchIndependence, checkStepsDoubling } from '../../eval/sanity';
import { Finding, flagQualifies, groupFindings, runFindings, summarizeFlags } from '../../reports/findings';
import { wrapText } from '../../reports/format';
import { renderJson } from '../../reports/json';
import { RunSummary, summarizeRun } from '../../reports/summary';
import { FixtureOptions, cleanupFixtures, makeRun } from './fixture';

test.after.always(cleanupFixtures);

// eslint-disable-next-line @typescript-eslint/no-require-imports
const golden = () => (require(path.join(__dirname, '..', '..', '..', 'test', 'golden', 'fixture-options.js')) as () => FixtureOptions)();
const MNIST = [{ group: 'mnist/mlp-32', dataset: { name: 'mnist', seed: 0, nTrain: 800, nTest: 200 }, model: { arch: 'mlp', hidden: [32] } }];

const flag = (check: string, message: string, at?: { norm: 'linf' | 'l2'; eps: number }): SanityFlag => ({ check, severity: 'warning', message, ...at });

/** Parses "+15.0 [+7.6, +22.4], significant" style numbers (typographic minus) into points. */
const num = (s: string) => Number(s.replace('−', '-'));

test("flag scope: every check that compares results at one ε sets the flag's norm and ε to that same double", (t) => {
  const s = (norm: 'linf' | 'l2', eps: number, acc: number) => ({ attack: 'pgd', norm, eps, settings: {}, n: 500, robustAccuracy: acc, meanLoss: 1 });
  const scope = (f: SanityFlag) => ({ norm: f.norm, eps: f.eps });
  const masking = checkIterativeVsSingleStep([{ ...s('linf', 0.1, 0.6) }, { ...s('linf', 0.1, 0.3), attack: 'fgsm' }]);
  t.is(masking[0].check, 'gradient-masking');
  t.deepEqual(scope(masking[0]), { norm: 'linf', eps: 0.1 });
  const noise = checkNoiseWeaker([{ ...s('l2', 0.5, 0.1), attack: 'noise' }, s('l2', 0.5, 0.6)]);
  t.is(noise[0].check, 'noise-stronger');
  t.deepEqual(scope(noise[0]), { norm: 'l2', eps: 0.5 });
  const steps = checkStepsDoubling(0.5, 0.4, 500, 40, 0.05, 'linf');
  t.is(steps[0].check, 'steps-not-converged');
  t.deepEqual(scope(steps[0]), { norm: 'linf', eps: 0.05 });
  t.deepEqual(scope(checkStepsDoubling(0.4, 0.5, 500, 40, 0.3, 'l2')[0]), { norm: 'l2', eps: 0.3 }, 'steps-unstable');
  const mono = checkMonotone([s('linf', 0.1, 0.3), s('linf', 0.2, 0.5)], 0.9);
  t.is(mono[0].check, 'non-monotone');
  t.deepEqual(scope(mono[0]), { norm: 'linf', eps: 0.2 });
  t.deepEqual(scope(checkLargeEps(0.3, 500, 6, 'linf', 'pgd')[0]), { norm: 'linf', eps: 6 });
  const outcomes = checkOutcomeBatchIndependence(Uint8Array.of(1, 0, 1, 0), Uint8Array.of(0, 1, 1, 0), 'fgsm', { norm: 'linf', eps: 0.1 });
  t.deepEqual(scope(outcomes[0]), { norm: 'linf', eps: 0.1 });
  // ε that prints long and sums that are not the literal: the flag holds the double itself, not its text
  const third = 1 / 3;
  const sum = 0.1 + 0.2;
  t.is(checkMonotone([s('linf', 0.05, 0.3), s('linf', third, 0.5)], 0.9)[0].eps, third);
  const f = checkIterativeVsSingleStep([{ ...s('linf', sum, 0.6) }, { ...s('linf', sum, 0.3), attack: 'fgsm' }])[0];
  t.is(f.eps, sum);
  t.true(flagQualifies(f, 'worst', 'linf', sum));
  t.false(flagQualifies(f, 'worst', 'linf', 0.3), '0.1 + 0.2 is another radius than 0.3: exact identity, no tolerance');
  // a check about the model as a whole carries no scope
  t.deepEqual(scope(checkGradients(Float32Array.of(0, 0, 1))[0]), { norm: undefined, eps: undefined });
});

test('which comparisons a flag qualifies: ε-specific checks at their ε, attack-breaking checks at every ε, gradient and clean checks', (t) => {
  const masking = flag('gradient-masking', 'linf:0.1: iterative pgd leaves 60.0% robust accuracy, more than single-step fgsm (30.0%)', { norm: 'linf', eps: 0.1 });
  t.true(flagQualifies(masking, 'worst', 'linf', 0.1));
  t.false(flagQualifies(masking, 'worst', 'linf', 0.2));
  t.false(flagQualifies(masking, 'worst', 'l2', 0.1), 'another norm');
  t.false(flagQualifies(masking, 'clean', null, null));
  t.false(flagQualifies(masking, 'gradient', null, null));
  const large = flag('large-eps-not-zero', 'pgd at linf eps 6 (the ball holds the whole input box) leaves 3 of 500 examples', { norm: 'linf', eps: 6 });
  for (const e of [0.05, 0.1, 0.3]) t.true(flagQualifies(large, 'worst', 'linf', e), 'every ε despite naming eps 6');
  const zero = flag('zero-gradients', '120 of 500 examples (24.0%) have an exactly zero input gradient');
  t.true(flagQualifies(zero, 'worst', 'linf', 0.3));
  t.true(flagQualifies(zero, 'gradient', null, null));
  t.false(flagQualifies(zero, 'clean', null, null));
  const nondet = flag('nondeterministic', 'two forward passes differ by up to 0.01');
  for (const m of ['clean', 'worst', 'gradient'] as const) t.true(flagQualifies(nondet, m, 'linf', 0.1), m);
  // An unknown check naming no ε is taken to concern every ε of the robust accuracy.
  t.true(flagQualifies(flag('something-new', 'odd'), 'worst', 'linf', 0.2));
  // The message is prose: a flag without ε fields (a result written before flags carried them) qualifies every ε, whatever its text says.
  t.true(flagQualifies(flag('gradient-masking', 'linf:0.1: iterative pgd leaves 60.0% robust accuracy'), 'worst', 'linf', 0.2));
  // A flag with ε but no norm qualifies that ε at every norm.
  t.true(flagQualifies({ check: 'gradient-masking', eps: 0.1 }, 'worst', 'l2', 0.1));
});

test('findings read the summary: one per scheme × (clean, worst case at every ε, gradient norm), numbers and verdicts equal to the cells', (t) => {
  const s = summarizeRun(makeRun(golden()));
  const all = runFindings(s);
  t.is(all.length, s.groups.length);
  for (const [i, gf] of all.entries()) {
    const g = s.groups[i];
    t.deepEqual(gf.headlineEps, [{ norm: 'linf', eps: [0.05, 0.1, 0.2, 0.3] }]);
    t.is(gf.gradientProbe, 'grad-l1/test');
    t.deepEqual(gf.worstOver, ['fgsm', 'pgd']);
    const schemes = g.rows.map((r) => r.scheme).filter((x) => x !== 'erm');
    t.deepEqual(
      gf.findings.map((f) => `${f.scheme}|${f.column}`),
      schemes.flatMap((sc) => ['clean', 'worst@linf:0.05', 'worst@linf:0.1', 'worst@linf:0.2', 'worst@linf:0.3', 'probe:grad-l1/test'].map((c) => `${sc}|${c}`)),
    );
    for (const f of gf.findings) {
      const cell = g.rows.find((r) => r.scheme === f.scheme)!.cells[f.column];
      const base = g.rows[0].cells[f.column];
      t.is(f.delta, cell.diff!.mean);
      t.is(f.lo, cell.diff!.lo);
      t.is(f.hi, cell.diff!.hi);
      t.is(f.significant, cell.diff!.verdict.significant);
      t.is(f.verdict, cell.diff!.verdict.label);
      t.is(f.mean, cell.stat!.mean);
      t.is(f.baselineMean, base.stat!.mean);
      t.deepEqual(f.pairedSeeds, cell.diff!.seeds);
      t.is(f.p, f.metric === 'gradient' ? null : cell.diff!.test!.p);
    }
  }
  // label-smoothing seed 2 diverged: its findings say over which seeds, and why not the third.
  const ls = all[0].findings.find((f) => f.scheme === 'label-smoothing' && f.metric === 'clean')!;
  t.deepEqual(ls.pairedSeeds, [0, 1]);
  t.deepEqual(ls.excluded, ['label-smoothing seed 2 diverged']);
});

test('sentences: one per scheme and metric; every worst-case clause carries the Δ, CI and verdict of its cell', (t) => {
  const s = summarizeRun(makeRun(golden()));
  const g = s.groups[0];
  const gf = groupFindings(g);
  t.is(gf.sentences.length, 3 * 3, 'three schemes against erm, three sentences each');
  const robust = gf.sentences.find((x) => x.startsWith('mixup(alpha=1): worst-case robust accuracy'))!;
  t.truthy(robust);
  const clauses = [...robust.matchAll(/at ε=([\d.]+) ([+−][\d.]+)(?: points)? \[([+−][\d.]+), ([+−][\d.]+)\], (significant|not significant)/g)];
  t.deepEqual(
    clauses.map((c) => c[1]),
    ['0.05', '0.1', '0.2', '0.3'],
  );
  for (const c of clauses) {
    const d = g.rows.find((r) => r.scheme === 'mixup(alpha=1)')!.cells[`worst@linf:${c[1]}`].diff!;
    t.is(num(c[2]), Number((d.mean * 100).toFixed(1)));
    t.is(num(c[3]), Number((d.lo! * 100).toFixed(1)));
    t.is(num(c[4]), Number((d.hi! * 100).toFixed(1)));
    t.is(c[5], d.verdict.label);
  }
  t.regex(robust, /; over 3 seeds\.$/);
  const clean = gf.sentences.find((x) => x.startsWith('label-smoothing: clean accuracy'))!;
  t.regex(clean, /^label-smoothing: clean accuracy [+−][\d.]+ points \[[+−][\d.]+, [+−][\d.]+\], (not )?significant over 2 of 3 seeds \(label-smoothing seed 2 diverged\)\.$/);
  const grad = gf.sentences.find((x) => x.startsWith('mixup(alpha=1): median input-gradient ℓ1 norm at test points'))!;
  t.regex(grad, /against [\d.]+ for erm \(×[\d.]+\), Δ −[\d.]+ \[−[\d.]+, −[\d.]+\], significant over 3 seeds\.$/);
});

test('a flag qualifies exactly the comparisons it undermines, in those sentences, and the flag line counts them', (t) => {
  const s = summarizeRun(makeRun(golden()));
  const moons = groupFindings(s.groups[0]);
  // gradient-masking at eps 0.1 on mixup(alpha=1) seed 1 (moons; the mnist group has no flag).
  const qualified = moons.findings.filter((f) => f.qualifiers.length);
  t.deepEqual(
    qualified.map((f) => `${f.scheme}|${f.column}`),
    ['mixup(alpha=1)|worst@linf:0.1'],
  );
  t.deepEqual(qualified[0].qualifiers, [{ check: 'gradient-masking', on: [{ scheme: 'mixup(alpha=1)', seeds: [1] }] }]);
  const robust = moons.sentences.find((x) => x.startsWith('mixup(alpha=1): worst-case'))!;
  t.regex(robust, /at ε=0\.1 [^;]*significant \(qualified: gradient-masking on mixup\(alpha=1\) seed 1\); at ε=0\.2/);
  t.is(moons.sentences.filter((x) => x.includes('qualified')).length, 1);
  t.is(moons.flagLine, 'Sanity flags: gradient-masking ×1 (mixup(alpha=1)) qualifies 1 of 18 comparisons; each qualified comparison says so above.');
  const mnist = groupFindings(s.groups[1]);
  t.false(mnist.findings.some((f) => f.qualifiers.length));
  t.is(mnist.flagLine, 'Sanity flags: none raised in this group; no finding is qualified.');
});

test('flags on erm qualify every scheme; attack-breaking flags qualify every ε; zero gradients also the gradient norm', (t) => {
  const s = summarizeRun(
    makeRun({
      groups: MNIST,
      seeds: [0, 1],
      eps: [0.1, 0.2],
      flags: [
        { scheme: 'erm', seed: 0, flag: flag('steps-not-converged', 'pgd at linf eps 0.2: 80 steps lower robust accuracy from 10.0% (40 steps) to 5.0%', { norm: 'linf', eps: 0.2 }) },
        { scheme: 'erm', seed: 1, flag: flag('steps-not-converged', 'pgd at linf eps 0.2: 80 steps lower robust accuracy from 11.0% (40 steps) to 6.0%', { norm: 'linf', eps: 0.2 }) },
        { scheme: 'mixup-asym', seed: 1, flag: flag('zero-gradients', '300 of 500 examples (60.0%) have an exactly zero input gradient') },
      ],
    }),
  );
  const gf = groupFindings(s.groups[0]);
  const q = (scheme: string, column: string) => gf.findings.find((f) => f.scheme === scheme && f.column === column)!.qualifiers.map((x) => x.check);
  for (const sc of ['mixup', 'mixup-asym']) {
    t.deepEqual(q(sc, 'clean'), []);
    t.true(q(sc, 'worst@linf:0.2').includes('steps-not-converged'), sc);
    t.false(q(sc, 'worst@linf:0.1').includes('steps-not-converged'), sc);
  }
  t.deepEqual(q('mixup-asym', 'worst@linf:0.1'), ['zero-gradients']);
  t.deepEqual(q('mixup-asym', 'probe:grad-l1/test'), ['zero-gradients']);
  t.deepEqual(q('mixup', 'probe:grad-l1/test'), []);
  const mixupWorst = gf.sentences.find((x) => x.startsWith('mixup: worst-case'))!;
  t.regex(mixupWorst, /at ε=0\.2 [^;]*\(qualified: steps-not-converged on erm seeds 0, 1\)/);
  t.regex(gf.flagLine, /steps-not-converged ×2 \(erm\) qualifies 2 of 8 comparisons; zero-gradients ×1 \(mixup-asym\) qualifies 3 of 8 comparisons/);
});

test('a scheme that diverged in every seed gets one sentence saying so; one seed is never called significant; no erm, no comparison', (t) => {
  const div = summarizeRun(makeRun({ groups: MNIST, seeds: [0, 1], diverged: [0, 1].map((seed) => ({ scheme: 'mixup', seed })) }));
  const gf = groupFindings(div.groups[0]);
  t.deepEqual(
    gf.sentences.filter((x) => x.startsWith('mixup:')),
    ['mixup: no comparison with erm: mixup has no finished seed (diverged).'],
  );
  t.true(gf.findings.filter((f) => f.scheme === 'mixup').every((f) => f.delta === null && f.verdict === 'no data'));

  const one = groupFindings(summarizeRun(makeRun({ groups: MNIST, seeds: [0] })).groups[0]);
  t.true(one.findings.length > 0);
  t.false(one.findings.some((f) => f.significant));
  for (const x of one.sentences) {
    t.notRegex(x, /, significant|not significant/);
    t.regex(x, /one seed \(no CI, not called significant\)|\[[^\]]+\] over the test set only \(one seed: not called significant\)/);
  }
  // Accuracies carry the test-set interval around their Δ; gradient norms (no per-example correctness) do not.
  for (const f of one.findings) {
    if (f.metric === 'gradient') t.is(f.testCI, null);
    else {
      const ci = f.testCI!;
      t.true(ci.lo <= (f.delta as number) && (f.delta as number) <= ci.hi && ci.examples > 0, f.column);
    }
  }

  const noErm = groupFindings(summarizeRun(makeRun({ groups: MNIST, seeds: [0, 1], schemes: ['mixup', 'mixup-asym'] })).groups[0]);
  t.deepEqual(noErm.findings, []);
  t.deepEqual(noErm.sentences, ['No erm row in this group: nothing to compare against.']);
});

test('headline ε: every worst-case ε in numeric order, whatever order the study lists them in', (t) => {
  const s = summarizeRun(makeRun({ groups: MNIST, seeds: [0, 1], eps: [0.3, 0.05, 0.2, 0.1] }));
  const gf = groupFindings(s.groups[0]);
  t.deepEqual(gf.headlineEps, [{ norm: 'linf', eps: [0.05, 0.1, 0.2, 0.3] }]);
  const sentence = gf.sentences.find((x) => x.startsWith('mixup: worst-case'))!;
  t.deepEqual(
    [...sentence.matchAll(/at ε=([\d.]+)/g)].map((m) => m[1]),
    ['0.05', '0.1', '0.2', '0.3'],
  );
});

test('the JSON report carries the findings as `findings`, equal to runFindings of the summary', (t) => {
  const s: RunSummary = summarizeRun(makeRun(golden()));
  const j = JSON.parse(renderJson(s));
  t.deepEqual(Object.keys(j), ['format', 'header', 'groups', 'flags', 'methods', 'findings']);
  t.deepEqual(j.findings, JSON.parse(JSON.stringify(runFindings(s))));
  const f: Finding = j.findings[0].findings[0];
  t.is(f.metric, 'clean');
});

test('flags summarised per check: counts, groups and schemes, the first flag as the example', (t) => {
  const s = summarizeRun(
    makeRun({
      groups: [golden().groups![0], MNIST[0]],
      seeds: [0, 1],
      flags: [
        { scheme: 'erm', seed: 0, flag: flag('steps-not-converged', 'first') },
        { group: 'mnist/mlp-32', scheme: 'mixup', seed: 1, flag: flag('steps-not-converged', 'second') },
        { scheme: 'mixup', seed: 0, flag: { check: 'out-of-ball', severity: 'error', message: 'outside' } },
      ],
    }),
  );
  const sums = summarizeFlags(s.flags);
  t.deepEqual(
    sums.map((x) => [x.check, x.count, x.severity]),
    [
      ['steps-not-converged', 3, 'warning'],
      ['out-of-ball', 2, 'error'],
    ],
  );
  t.deepEqual(sums[0].where, [
    { group: 'moons/mlp-16x16', schemes: ['erm'] },
    { group: 'mnist/mlp-32', schemes: ['erm', 'mixup'] },
  ]);
  t.is(sums[0].example.message, 'first');
  t.is(
    sums.reduce((a, x) => a + x.count, 0),
    s.flags.length,
  );
});

test('wrapText: lines within the width, words kept in order, hanging indent, long words cut', (t) => {
  const text = 'mixup(alpha=1): worst-case robust accuracy at ε=0.05 +3.9 points [−2.3, +10.1], not significant; at ε=0.1 +15.0 [+7.6, +22.4], significant';
  for (const width of [20, 37, 60, 120]) {
    const lines = wrapText(text, width, '  ', '    ');
    for (const l of lines) t.true([...l].length <= width, `${width}: ${l}`);
    t.true(lines[0].startsWith('  ') && !lines[0].startsWith('   '));
    for (const l of lines.slice(1)) t.true(l.startsWith('    '));
    t.is(lines.map((l) => l.trim()).join(' '), text);
  }
  const cut = wrapText('x'.repeat(25), 10);
  t.deepEqual(cut, ['x'.repeat(10), 'x'.repeat(10), 'x'.repeat(5)]);
  t.deepEqual(wrapText('a\n\nb', 10), ['a', '', 'b']);
});

test('ce-saturation qualifies the worst case only when it has no scale-invariant attack', (t) => {
  const flag = { check: 'ce-saturation', severity: 'warning' as const, message: 'at linf eps 0.1 pgd (cross-entropy) leaves 40.0% robust accuracy, pgd with the margin loss 30.0%' };
  const qualified = (attacks: string[]): boolean => {
    const s = summarizeRun(makeRun({ seeds: [0, 1], attacks, eps: [0.1], flags: [{ scheme: 'mixup', seed: 0, flag }] }));
    const worst = runFindings(s)[0].findings.filter((f) => f.metric === 'worst');
    return worst.some((f) => f.qualifiers.some((q) => q.check === 'ce-saturation'));
  };
  t.true(qualified(['fgsm', 'pgd']), 'a CE-only worst case is undermined');
  t.false(qualified(['fgsm', 'pgd', 'apgd-dlr']), 'a worst case with APGD-DLR is not');
});
