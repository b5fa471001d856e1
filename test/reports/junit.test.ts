/**
 * `vicinal compare --junit FILE`, parsed back with a real XML parser: one
 * test case per compared accuracy metric, regressions (and only they) as
 * failures carrying the delta, its CI and the threshold of the comparison
 * itself; the counts in the suite attributes agree with the cases.
 */
import test from 'ava';
import * as fs from 'fs';
import * as path from 'path';
import { XMLParser, XMLValidator } from 'fast-xml-parser';
import { command as compare } from '../../suite/commands/compare';
import { DEFAULT_THRESHOLDS, compareRuns } from '../../reports/compare';
import { renderComparisonJUnit } from '../../reports/junit';
import { correctnessLookup, summarizeRun } from '../../reports/summary';
import { FixtureOptions, cleanupFixtures, makeRun, tmpDir } from './fixture';

test.after.always(cleanupFixtures);

interface Property {
  '@_name': string;
  '@_value': string;
}
interface TestCase {
  '@_classname': string;
  '@_name': string;
  failure?: { '@_message': string; '@_type': string; '#text': string };
  skipped?: { '@_message': string };
  'system-out': string;
  properties?: { property: Property[] };
}
interface TestSuite {
  '@_name': string;
  '@_tests': string;
  '@_failures': string;
  '@_skipped': string;
  testcase: TestCase[];
}

function parse(xml: string): { '@_tests': string; '@_failures': string; testsuite: TestSuite[] } {
  const valid = XMLValidator.validate(xml);
  if (valid !== true) throw new Error(`not well-formed XML: ${JSON.stringify(valid)}`);
  const parser = new XMLParser({
    ignoreAttributes: false,
    parseAttributeValue: false,
    parseTagValue: false,
    isArray: (name) => ['testsuite', 'testcase', 'property'].includes(name),
  });
  return parser.parse(xml).testsuites;
}

async function quietCompare(args: string[], flags: Record<string, unknown>): Promise<number> {
  const orig = process.stdout.write.bind(process.stdout);
  (process.stdout as unknown as { write: (s: string) => boolean }).write = () => true;
  try {
    return await compare.main(flags as never, args);
  } finally {
    (process.stdout as unknown as { write: typeof orig }).write = orig;
  }
}

const base: FixtureOptions = { seeds: [0, 1, 2], n: 400 };
/** B: mixup's pgd accuracy 10 points lower in every seed. */
const pgdDown: FixtureOptions['robust'] = (_g, s, atk, e, seed) => {
  const clean = (s === 'erm' ? 0.9 : 0.88) + 0.01 * ((seed % 3) - 1);
  const drop = (atk === 'pgd' ? 1.6 : 1.2) * e * (s === 'erm' ? 2.5 : 1.5);
  return Math.max(0.02, clean - drop - (atk === 'pgd' && s === 'mixup' ? 0.1 : 0));
};
const pts = (v: number) => `${v > 0 ? '+' : ''}${(v * 100).toFixed(2)}`;

test('compare --junit: one case per (group, scheme, metric, ε); regressions are failures with delta, CI and threshold', async (t) => {
  const dir = tmpDir('vicinal-junit-');
  const a = makeRun({ ...base, dir: path.join(dir, 'a') });
  const b = makeRun({ ...base, dir: path.join(dir, 'b'), robust: pgdDown, wallSeconds: 100 });
  const file = path.join(dir, 'out', 'compare.xml');
  t.is(await quietCompare([a.dir, b.dir], { junit: file }), 1);
  const doc = parse(fs.readFileSync(file, 'utf8'));

  // The comparison itself, computed independently of the command.
  const sa = summarizeRun(a);
  const sb = summarizeRun(b);
  const c = compareRuns(sa, sb, DEFAULT_THRESHOLDS, 'defaults', correctnessLookup(a, sa), correctnessLookup(b, sb));
  const judged = c.deltas.filter((d) => d.kind !== 'probe');
  // 3 schemes x (clean + 2 attacks x 2 ε + worst x 2 ε) = 21 metric cases, plus the wall-time case.
  t.is(judged.length, 21);
  const group = doc.testsuite.find((s) => s['@_name'] === 'moons/mlp-16x16') as TestSuite;
  t.is(group.testcase.length, 21);
  t.deepEqual(
    group.testcase.map((k) => k['@_name']),
    judged.map((d) => `${d.scheme} ${d.label}`),
  );
  // Every metric case names group, scheme and metric key (attack, norm, ε) in its properties.
  for (const [i, k] of group.testcase.entries()) {
    const props = Object.fromEntries((k.properties?.property ?? []).map((p) => [p['@_name'], p['@_value']]));
    t.is(props.group, 'moons/mlp-16x16');
    t.is(props.scheme, judged[i].scheme);
    t.is(props.metric, judged[i].column);
    t.is(Number(props.delta), judged[i].delta as number);
  }
  const failed = group.testcase.filter((k) => k.failure);
  t.deepEqual(
    failed.map((k) => k['@_name']),
    ['mixup pgd ε=0.1', 'mixup pgd ε=0.2', 'mixup worst ε=0.1', 'mixup worst ε=0.2'],
  );
  t.deepEqual(
    failed.map((k) => k['@_name']),
    judged.filter((d) => d.regression).map((d) => `${d.scheme} ${d.label}`),
  );
  for (const k of failed) {
    const d = judged.find((x) => `${x.scheme} ${x.label}` === k['@_name']);
    if (!d || d.lo === null || d.hi === null || d.delta === null) return t.fail('a failure without a regression of the comparison');
    const msg = k.failure?.['@_message'] ?? '';
    t.true(msg.includes(`Δ ${pts(d.delta)} points (B − A)`), msg);
    t.true(msg.includes(`95% CI [${pts(d.lo)}, ${pts(d.hi)}]`), msg);
    t.true(msg.includes('threshold: fails when the 95% CI of Δ lies below 0 (robustBeyondCI=true'), msg);
    t.true(d.hi < 0 && d.delta < -0.05, 'the injected 10-point drop');
    t.is(k.failure?.['@_type'], 'regression');
  }
  // Suite and document counts agree with the cases.
  t.is(Number(group['@_tests']), 21);
  t.is(Number(group['@_failures']), 4);
  const run = doc.testsuite.find((s) => s['@_name'] === 'run') as TestSuite;
  t.deepEqual(
    run.testcase.map((k) => k['@_name']),
    ['wall time'],
  );
  t.falsy(run.testcase[0].failure, 'same wall time: passes');
  t.is(Number(doc['@_tests']), 22);
  t.is(Number(doc['@_failures']), 4);
});

test('junit: a clean-accuracy drop, a slower run and a seed that diverged only in B are failures; the threshold in the message is the one used', async (t) => {
  const dir = tmpDir('vicinal-junit-');
  const clean = (drop: number) => (_g: string, s: string, seed: number) => (s === 'erm' ? 0.9 - drop : 0.88) + 0.01 * ((seed % 3) - 1);
  const a = makeRun({ ...base, dir: path.join(dir, 'a'), clean: clean(0), independence: 0, wallSeconds: 100 });
  const b = makeRun({ ...base, dir: path.join(dir, 'b'), clean: clean(0.05), independence: 0, wallSeconds: 180, diverged: [{ scheme: 'mixup-asym', seed: 2 }] });
  const file = path.join(dir, 'compare.xml');
  t.is(await quietCompare([a.dir, b.dir], { junit: file, thresholds: ['cleanAccuracyDrop=0.02'] }), 1);
  const doc = parse(fs.readFileSync(file, 'utf8'));
  const cases = doc.testsuite.flatMap((s) => s.testcase);
  const ermClean = cases.find((k) => k['@_name'] === 'erm clean');
  t.regex(
    ermClean?.failure?.['@_message'] ?? '',
    /^clean regressed: Δ -[\d.]+ points \(B − A\), 95% CI \[-[\d.]+, -[\d.]+\].*; threshold: clean accuracy may drop at most 2\.00 points \(cleanAccuracyDrop=0\.02\)$/,
  );
  const wall = cases.find((k) => k['@_name'] === 'wall time');
  t.regex(wall?.failure?.['@_message'] ?? '', /^wall time up 80\.0% \(1 min 40 s -> 3 min 0 s; threshold 25%\)$/);
  const seeds = cases.filter((k) => k['@_name'].startsWith('seeds '));
  t.is(seeds.length, 1);
  t.regex(seeds[0].failure?.['@_message'] ?? '', /mixup-asym: seed 2 diverged in B .*\(ok in A\)/);
  t.is(Number(doc['@_failures']), cases.filter((k) => k.failure).length);
});

test('junit: a metric on one side only is a skipped case; names with XML metacharacters survive the round trip', (t) => {
  const groups = [{ group: 'a&b <"x">', dataset: { name: 'moons', seed: 0, nTrain: 200, nTest: 200, noise: 0.1 }, model: { arch: 'mlp', hidden: [8] } }];
  const a = makeRun({ ...base, groups, attacks: ['fgsm'] });
  const b = makeRun({ ...base, groups, attacks: ['fgsm', 'pgd'] });
  const sa = summarizeRun(a);
  const sb = summarizeRun(b);
  const c = compareRuns(sa, sb, DEFAULT_THRESHOLDS, 'defaults', correctnessLookup(a, sa), correctnessLookup(b, sb));
  const doc = parse(renderComparisonJUnit(c));
  const suite = doc.testsuite[0];
  t.is(suite['@_name'], 'a&b <"x">');
  const skipped = suite.testcase.filter((k) => k.skipped);
  t.deepEqual(skipped.map((k) => k['@_name']).sort(), ['erm pgd ε=0.1', 'erm pgd ε=0.2', 'mixup pgd ε=0.1', 'mixup pgd ε=0.2', 'mixup-asym pgd ε=0.1', 'mixup-asym pgd ε=0.2']);
  for (const k of skipped) t.is(k.skipped?.['@_message'], 'not compared: only in B');
  t.is(Number(suite['@_skipped']), 6);
});
