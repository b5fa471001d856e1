/**
 * A comparison as a JUnit XML report (`vicinal compare --junit FILE`), so a
 * CI shows each compared metric where it shows tests: one test suite per
 * group, one test case per compared accuracy metric (group, scheme, metric
 * and ε: clean, robust per attack and ε, worst case per ε), a regression as
 * a failure whose message gives the delta, its 95% CI and the threshold.
 * A metric present on one side only is a skipped case. Probe medians are
 * descriptive and never judged, so they are not test cases. The run-wide
 * checks (wall time, seeds that diverged or failed in B only) form the suite
 * "run".
 */
import { Comparison, MetricDelta } from './compare';
import { formatP } from './stats';

/** Escapes text for an XML attribute or element; drops characters XML 1.0 cannot hold. */
export function xmlEscape(s: string): string {
  return (
    s
      // biome-ignore lint/suspicious/noControlCharactersInRegex: these are exactly the characters XML 1.0 forbids.
      .replace(/[\u0000-\u0008\u000b\u000c\u000e-\u001f\ufffe\uffff]/g, '')
      .replace(/&/g, '&amp;')
      .replace(/</g, '&lt;')
      .replace(/>/g, '&gt;')
      .replace(/"/g, '&quot;')
      .replace(/'/g, '&apos;')
  );
}

const pts = (v: number) => `${v > 0 ? '+' : ''}${(v * 100).toFixed(2)}`;

/** "Δ -10.20 points, 95% CI [-12.31, -8.09]" or "Δ -3.00 points, no CI (n=1), McNemar p=0.004". */
function deltaText(d: MetricDelta): string {
  const ci = d.lo !== null && d.hi !== null ? `95% CI [${pts(d.lo)}, ${pts(d.hi)}]` : `no CI (${d.note ?? 'n=1'})`;
  const p = d.test ? formatP(d.test.p) : '';
  const test = d.test ? `, ${d.test.seeds.length > 1 ? 'sign-flip' : 'McNemar'} p${p.startsWith('<') ? '' : '='}${p}` : '';
  return `Δ ${pts(d.delta as number)} points (B − A), ${ci}${test}`;
}

/** The rule the metric is judged by, with its threshold. */
function thresholdText(d: MetricDelta, c: Comparison): string {
  const t = c.thresholds;
  if (d.kind === 'clean') return `threshold: clean accuracy may drop at most ${(t.cleanAccuracyDrop * 100).toFixed(2)} points (cleanAccuracyDrop=${t.cleanAccuracyDrop})`;
  return t.robustBeyondCI ? 'threshold: fails when the 95% CI of Δ lies below 0 (robustBeyondCI=true; one seed: McNemar p < 0.05)' : 'threshold: none (robustBeyondCI=false)';
}

interface Case {
  classname: string;
  name: string;
  failure?: string;
  skipped?: string;
  out: string;
  properties: Record<string, string | number>;
}

function metricCase(d: MetricDelta, c: Comparison): Case {
  const base = {
    classname: d.group,
    name: `${d.scheme} ${d.label}`,
    properties: {
      group: d.group,
      scheme: d.scheme,
      metric: d.column,
      ...(d.delta !== null ? { delta: d.delta } : {}),
      ...(d.lo !== null ? { ciLow: d.lo } : {}),
      ...(d.hi !== null ? { ciHigh: d.hi } : {}),
    },
  };
  const side = (name: string, s: MetricDelta['a'], status: string) => `${name}: ${s ? `${(s.mean * 100).toFixed(2)}% (n=${s.n})` : status}`;
  if (d.delta === null) return { ...base, skipped: `not compared: ${d.note ?? 'no number on one side'}`, out: `${side('A', d.a, d.aStatus)}; ${side('B', d.b, d.bStatus)}` };
  const out = `${side('A', d.a, d.aStatus)}; ${side('B', d.b, d.bStatus)}; ${deltaText(d)}; ${thresholdText(d, c)}`;
  return d.regression ? { ...base, failure: `${d.label} regressed: ${deltaText(d)}; ${thresholdText(d, c)}`, out } : { ...base, out };
}

function runCases(c: Comparison): Case[] {
  const w = c.wall;
  const wallOut = `A ${w.a ?? 'unknown'} s, B ${w.b ?? 'unknown'} s${w.change !== null ? ` (${w.change >= 0 ? '+' : ''}${(w.change * 100).toFixed(1)}%)` : ''}; threshold: at most +${(c.thresholds.wallTimeIncrease * 100).toFixed(0)}% (wallTimeIncrease=${c.thresholds.wallTimeIncrease})`;
  const wall: Case = {
    classname: 'run',
    name: 'wall time',
    out: wallOut,
    properties: { ...(w.change !== null ? { change: w.change } : {}) },
    ...(w.regression ? { failure: `${w.reason}` } : w.change === null ? { skipped: 'wall time unknown for one of the runs (unfinished)' } : {}),
  };
  const judged = new Set([...(w.reason ? [w.reason] : []), ...c.deltas.filter((d) => d.regression).map((d) => `${d.group} ${d.scheme}: ${d.reason}`)]);
  // What remains are the seeds that diverged or failed in B but not in A, one line per (group, scheme).
  const seeds = c.regressions.filter((r) => !judged.has(r)).map((r): Case => ({ classname: 'run', name: `seeds ${r.slice(0, r.indexOf(':'))}`, failure: r, out: r, properties: {} }));
  return [wall, ...seeds];
}

function renderCase(k: Case): string {
  const props = Object.entries(k.properties);
  const lines = [`    <testcase classname="${xmlEscape(k.classname)}" name="${xmlEscape(k.name)}" time="0">`];
  if (props.length) {
    lines.push('      <properties>');
    for (const [n, v] of props) lines.push(`        <property name="${xmlEscape(n)}" value="${xmlEscape(String(v))}"/>`);
    lines.push('      </properties>');
  }
  if (k.failure !== undefined) lines.push(`      <failure type="regression" message="${xmlEscape(k.failure)}">${xmlEscape(k.failure)}</failure>`);
  if (k.skipped !== undefined) lines.push(`      <skipped message="${xmlEscape(k.skipped)}"/>`);
  lines.push(`      <system-out>${xmlEscape(k.out)}</system-out>`, '    </testcase>');
  return lines.join('\n');
}

function renderSuite(name: string, cases: Case[], timestamp: string): string {
  const failures = cases.filter((k) => k.failure !== undefined).length;
  const skipped = cases.filter((k) => k.skipped !== undefined).length;
  return [
    `  <testsuite name="${xmlEscape(name)}" tests="${cases.length}" failures="${failures}" errors="0" skipped="${skipped}" time="0" timestamp="${xmlEscape(timestamp)}">`,
    ...cases.map(renderCase),
    '  </testsuite>',
  ].join('\n');
}

/** The JUnit XML document of a comparison. */
export function renderComparisonJUnit(c: Comparison): string {
  const groups = [...new Set(c.deltas.map((d) => d.group))];
  const timestamp = c.b.startedAt.replace(/Z$/, '').replace(/\.\d+$/, '');
  const suites = groups.map((g) => ({
    name: g,
    cases: c.deltas.filter((d) => d.group === g && d.kind !== 'probe').map((d) => metricCase(d, c)),
  }));
  suites.push({ name: 'run', cases: runCases(c) });
  const all = suites.flatMap((s) => s.cases);
  const failures = all.filter((k) => k.failure !== undefined).length;
  const skipped = all.filter((k) => k.skipped !== undefined).length;
  return [
    '<?xml version="1.0" encoding="UTF-8"?>',
    `<testsuites name="${xmlEscape(`vicinal compare ${c.a.dir} ${c.b.dir}`)}" tests="${all.length}" failures="${failures}" errors="0" skipped="${skipped}" time="0">`,
    ...suites.map((s) => renderSuite(s.name, s.cases, timestamp)),
    '</testsuites>',
    '',
  ].join('\n');
}
