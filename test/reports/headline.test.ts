import test from 'ava';
import { groupFindings } from '../../reports/findings';
import { groupAnswer, schemeSentences } from '../../reports/headline';
import { summarizeRun } from '../../reports/summary';
import { FixtureOptions, cleanupFixtures, makeRun } from './fixture';

test.after.always(cleanupFixtures);

// Known answers: with independence 0 every model's per-example correctness is a threshold on one
// shared draw per example, so a scheme whose robust accuracy is set δ above erm's is more robust
// on about δ·n examples and less robust on none: the direction and size are known in advance.
const GROUP = [{ group: 'mnist/mlp-32', dataset: { name: 'mnist', seed: 0, nTrain: 800, nTest: 200 }, model: { arch: 'mlp', hidden: [32] } }];
const EPS = [0.1, 0.2, 0.3];

/** A run whose robust accuracy is erm's (0.6 − ε, a little higher per seed) plus shift(scheme, ε). */
function groupOf(shift: (scheme: string, eps: number) => number, o: Partial<FixtureOptions> = {}) {
  const run = makeRun({
    groups: GROUP,
    schemes: ['erm', 'mixup', 'mixup-asym'],
    seeds: [0, 1, 2],
    eps: EPS,
    attacks: ['pgd'],
    n: 400,
    independence: 0,
    clean: (_g, _s, seed) => 0.9 + 0.01 * seed,
    robust: (_g, s, _a, e, seed) => 0.6 - e + 0.01 * seed + (s === 'erm' ? 0 : shift(s, e)),
    ...o,
  });
  const g = summarizeRun(run).groups[0];
  return { g, gf: groupFindings(g) };
}

/** Δ of a scheme's worst case at ε in points, as the summary computed it ("+7.8"). */
function points(g: ReturnType<typeof groupOf>['g'], scheme: string, eps: number): number {
  const d = g.rows.find((r) => r.scheme === scheme)?.cells[`worst@linf:${eps}`].diff;
  if (!d) throw new Error(`no diff for ${scheme} at ${eps}`);
  return Number((d.mean * 100).toFixed(1));
}
const num = (s: string) => Number(s.replace('−', '-'));

test('significant gain: the answer names the scheme, the direction, every ε and the point range; the other scheme has no change', (t) => {
  const { g, gf } = groupOf((s) => (s === 'mixup' ? 0.08 : 0));
  const answer = groupAnswer(gf);
  const m =
    /^mnist\/mlp-32: mixup is significantly more robust than erm at ε=0\.1, 0\.2 and 0\.3 \((\+[\d.]+) to (\+[\d.]+) points\); none is significantly less robust; mixup-asym shows no significant change\.$/.exec(
      answer,
    );
  t.truthy(m, answer);
  const deltas = EPS.map((e) => points(g, 'mixup', e)).sort((a, b) => a - b);
  t.deepEqual([num(m![1]), num(m![2])], [deltas[0], deltas[2]]);
  for (const d of deltas) t.true(d >= 5 && d <= 11, `designed +8 points, got ${d}`);
});

test('significant loss of every scheme at one ε: "no scheme is more robust ...; both are significantly less robust at ε=0.1 (−a to −b points)"', (t) => {
  const { g, gf } = groupOf((s, e) => (e === 0.1 ? (s === 'mixup' ? -0.04 : -0.07) : 0));
  const answer = groupAnswer(gf);
  const m = /^mnist\/mlp-32: no scheme is more robust than erm at any ε; both are significantly less robust at ε=0\.1 \((−[\d.]+) to (−[\d.]+) points\)\.$/.exec(answer);
  t.truthy(m, answer);
  t.deepEqual([num(m![1]), num(m![2])], [points(g, 'mixup', 0.1), points(g, 'mixup-asym', 0.1)]);
  // Designed −4 and −7 points; the counts of shared draws between the thresholds scatter by about ±2.5.
  const [a, b] = [points(g, 'mixup', 0.1), points(g, 'mixup-asym', 0.1)];
  t.true(a >= -7 && a <= -1 && b >= -10 && b <= -4 && b < a, `${a} ${b}`);
});

test('nothing significant: the answer says so and lists the ε compared', (t) => {
  const { gf } = groupOf(() => 0);
  t.is(groupAnswer(gf), "mnist/mlp-32: no scheme's worst-case robust accuracy differs significantly from erm's at any ε (0.1, 0.2 and 0.3).");
});

test('mixed: a gain and a loss by different schemes at different ε, each with its own range', (t) => {
  const { g, gf } = groupOf((s, e) => (s === 'mixup' && e === 0.3 ? 0.06 : s === 'mixup-asym' && e < 0.3 ? -0.05 : 0));
  const answer = groupAnswer(gf);
  const m =
    /^mnist\/mlp-32: mixup is significantly more robust than erm at ε=0\.3 \((\+[\d.]+) points\); mixup-asym is significantly less robust than erm at ε=0\.1 and 0\.2 \((−[\d.]+)(?: to (−[\d.]+))? points\)\.$/.exec(
      answer,
    );
  t.truthy(m, answer);
  t.is(num(m![1]), points(g, 'mixup', 0.3));
  const losses = [points(g, 'mixup-asym', 0.1), points(g, 'mixup-asym', 0.2)].sort((a, b) => b - a);
  t.deepEqual(m![3] === undefined ? [num(m![2]), num(m![2])] : [num(m![2]), num(m![3])], losses);
});

test('one seed: nothing is called significant; a scheme with no finished seed is named as not compared', (t) => {
  const one = groupOf((s) => (s === 'mixup' ? 0.08 : 0), { seeds: [0] });
  t.is(groupAnswer(one.gf), 'mnist/mlp-32: one seed only, so no difference from erm in robust accuracy is called significant.');
  const div = groupOf((s) => (s === 'mixup' ? 0.08 : 0), { diverged: [0, 1, 2].map((seed) => ({ scheme: 'mixup-asym', seed })) });
  t.regex(
    groupAnswer(div.gf),
    /^mnist\/mlp-32: mixup is significantly more robust than erm at ε=0\.1, 0\.2 and 0\.3 \([^)]*\); none is significantly less robust; not compared: mixup-asym has no finished seed \(diverged\)\.$/,
  );
});

test('one sentence per scheme: robust accuracy by verdict with the Δ at each ε, clean accuracy, gradient norm, seeds', (t) => {
  const { g, gf } = groupOf((s, e) => (s === 'mixup' && e >= 0.2 ? 0.08 : 0));
  const sentences = schemeSentences(gf);
  t.is(sentences.length, 2);
  t.true(sentences[0].startsWith('mixup: ') && sentences[1].startsWith('mixup-asym: '));
  const m =
    /^mixup: significantly more robust at ε=0\.2 and 0\.3 \((\+[\d.]+), (\+[\d.]+) points\); no significant change at ε=0\.1 \(([+−]?[\d.]+) points\); clean accuracy ([+−]?[\d.]+) points \(not significant\); median input-gradient ℓ1 norm ×0\.6 of erm's \(significant\); over 3 seeds\.$/.exec(
      sentences[0],
    );
  t.truthy(m, sentences[0]);
  t.deepEqual([num(m![1]), num(m![2]), num(m![3])], [points(g, 'mixup', 0.2), points(g, 'mixup', 0.3), points(g, 'mixup', 0.1)]);
  t.is(num(m![4]), 0);
  // Exactly one sentence: one final period, none between clauses.
  for (const x of sentences) t.is(x.replace(/\d\.\d/g, '').split('.').length, 2, x);
});

test('every scheme less robust: the answer counts them ("all four") rather than listing four names', (t) => {
  const { gf } = groupOf((_s, e) => (e === 0.2 ? -0.08 : 0), { schemes: ['erm', 'mixup', 'mixup-asym', 'label-smoothing', 'gaussian-noise'] });
  t.regex(
    groupAnswer(gf),
    /^mnist\/mlp-32: no scheme is more robust than erm at any ε; all four are significantly less robust at ε=0\.2 \(−[\d.]+ points\)\.$/,
    'the same shift for every scheme: one value, not a range',
  );
});
