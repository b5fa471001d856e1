import test from 'ava';
import * as path from 'path';
import { groupFindings, runFindings } from '../../reports/findings';
import { finishRunReport } from '../../reports/run-report';
import { summarizeRun } from '../../reports/summary';
import { TERMINAL_WIDTH, fitTables, renderTerminal } from '../../reports/terminal';
import { FixtureOptions, cleanupFixtures, makeRun } from './fixture';

test.after.always(cleanupFixtures);

// eslint-disable-next-line @typescript-eslint/no-require-imports
const golden = () => (require(path.join(__dirname, '..', '..', '..', 'test', 'golden', 'fixture-options.js')) as () => FixtureOptions)();

const LONG_SCHEMES = ['mixup-asym(alpha=0.2)', 'mixup-semi(labelledPerClass=621)', 'label-smoothing(eps=0.1)', 'gaussian-noise(sigma=0.1)', 'adversarial(eps=0.1)', 'mixup-knn(alpha=0.2, k=10)'];

/** The golden fixture plus more schemes with long names, and 18 flags of two checks, like the shipped quick run. */
function realistic(o: Partial<FixtureOptions> = {}): FixtureOptions {
  const g = golden();
  const flags = [...(g.flags ?? [])];
  for (const scheme of ['erm', 'mixup-asym(alpha=1)', 'mixup-asym(alpha=0.2)', 'label-smoothing(eps=0.1)', 'gaussian-noise(sigma=0.1)', 'adversarial(eps=0.1)'])
    for (const seed of [0, 1, 2])
      if (flags.length < 18)
        flags.push({
          group: 'mnist/mlp-256x256',
          scheme,
          seed,
          flag: {
            check: 'steps-not-converged',
            severity: 'warning',
            message: 'pgd at linf eps 0.05: 80 steps lower robust accuracy from 71.2% (40 steps) to 64.0% (tolerance 2.0%); the attack has not converged, robust accuracy is overestimated',
          },
        });
  return { ...g, schemes: [...(g.schemes ?? []), ...LONG_SCHEMES], flags, ...o };
}

const width = (l: string) => [...l].length;
const squash = (s: string) => s.replace(/\s+/g, ' ');

test('default terminal report of a realistic run: every line fits in 120 columns', (t) => {
  for (const o of [{}, { eps: [0.01, 0.02, 0.03, 0.05, 0.1, 0.15, 0.2, 0.25, 0.3] }]) {
    const out = renderTerminal(summarizeRun(makeRun(realistic(o))));
    const lines = out.split('\n');
    const wide = lines.filter((l) => width(l) > TERMINAL_WIDTH);
    t.deepEqual(wide, []);
    t.true(lines.length > 40, 'a real report, not an empty one');
    // Every scheme appears in every group's table, wrapped or not.
    for (const s of LONG_SCHEMES) t.true(squash(out.replace(/│/g, ' ')).includes(s.slice(0, 12)), s);
  }
});

test('default terminal report opens with the findings, then flags per check, then one compact table per group', (t) => {
  const s = summarizeRun(makeRun(realistic()));
  const out = renderTerminal(s);
  const lines = out.split('\n');
  const at = (re: RegExp) => lines.findIndex((l) => re.test(l));
  const findings = at(/^Findings, each scheme against erm/);
  const flags = at(/^Sanity flags: 18 raised, by check/);
  const firstTable = at(/^┌/);
  t.true(findings > 0 && findings < 6, 'the findings come right after a short header');
  t.true(findings < flags && flags < firstTable);
  // Every sentence of the findings is printed (wrapped), in order.
  const flat = squash(out);
  let pos = 0;
  for (const gf of runFindings(s)) {
    for (const sentence of [...gf.sentences, gf.flagLine]) {
      const i = flat.indexOf(squash(sentence), pos);
      t.true(i >= pos, sentence);
      pos = i;
    }
  }
  // Flags per check: one line per check with its count, one example each; never the 18 single flags.
  t.is(lines.filter((l) => /^ {2}gradient-masking ×1 \(warning\) in moons\/mlp-16x16: mixup\(alpha=1\)$/.test(l)).length, 1);
  t.is(lines.filter((l) => /^ {2}steps-not-converged ×17 \(warning\) in mnist\/mlp-256x256: erm, mixup-asym\(alpha=1\)/.test(l)).length, 1);
  t.is(lines.filter((l) => /^ {4}e\.g\. /.test(l)).length, 2);
  t.false(out.includes('[warning]'));
  // One compact table per group (a group may split into chunks): clean, worst case per ε, gradient norm; no per-attack tables.
  t.is(lines.filter((l) => /^== .* ==$/.test(l)).length, 2);
  const heads = lines
    .filter((l) => /^│ scheme/.test(l))
    .map((l) =>
      l
        .split('│')
        .slice(2, -1)
        .map((c) => c.trim()),
    );
  const cols = ['clean', 'worst ε=0.05', 'worst ε=0.1', 'worst ε=0.2', 'worst ε=0.3', 'grad-l1/test'];
  t.deepEqual(heads.flat(), [...cols, ...cols]);
  t.false(/Robust accuracy under (fgsm|pgd)|local-lipschitz|fgsm ε=/.test(out));
});

test('--detail prints everything: the run header, every flag, every table; the findings still come first', (t) => {
  const s = summarizeRun(makeRun(realistic()));
  const out = renderTerminal(s, { detail: true });
  const lines = out.split('\n');
  t.true(lines.findIndex((l) => l.startsWith('Findings, each scheme')) < lines.findIndex((l) => l.startsWith('Sanity flags (18):')));
  t.is(lines.filter((l) => /^ {2}\[warning\] /.test(l)).length, 18);
  for (const title of ['Robust accuracy under fgsm (%)', 'Robust accuracy under pgd (%)', 'Clean and worst-case robust accuracy (%)']) t.is(lines.filter((l) => l === title).length, 2, title);
  t.regex(out, /Probe medians: local-lipschitz/);
  for (const k of ['backend', 'tfjs', 'machine', 'wall time']) t.regex(out, new RegExp(`^ {2}${k} +`, 'm'));
  t.regex(out, /attack pgd: linf, ε ∈ \{0\.05, 0\.1, 0\.2, 0\.3\}/);
});

test('fitTables: within the width, every column once, the first column repeated in each chunk', (t) => {
  const head = ['scheme', ...Array.from({ length: 9 }, (_, i) => `column number ${i}`)];
  const rows = ['erm', 'mixup-semi(labelledPerClass=621)'].map((s) => [s, ...head.slice(1).map((_, i) => `${(i * 7.31).toFixed(2)} ± 0.5\nΔ +1.${i} sig`)]);
  for (const w of [60, 90, 120]) {
    const tables = fitTables(head, rows, w);
    t.true(tables.length > 1, `${w}: split`);
    const all = tables.join('\n');
    for (const l of all.split('\n')) t.true(width(l) <= w, `${w}: ${l}`);
    const heads = tables.map((tb) =>
      tb
        .split('\n')[1]
        .split('│')
        .slice(1, -1)
        .map((c) => c.trim()),
    );
    t.true(heads.every((h) => h[0] === 'scheme'));
    t.deepEqual(
      heads.flatMap((h) => h.slice(1)),
      head.slice(1),
    );
  }
  // A table that fits is drawn whole.
  t.is(
    fitTables(
      head.slice(0, 3),
      rows.map((r) => r.slice(0, 3)),
      120,
    ).length,
    1,
  );
});

test('the terminal table and the findings agree on the verdict of every compared cell', (t) => {
  const s = summarizeRun(makeRun(golden()));
  const out = renderTerminal(s);
  for (const g of s.groups) {
    const gf = groupFindings(g);
    for (const f of gf.findings.filter((x) => x.metric === 'clean')) {
      // the row's Δ line reads "Δ <delta> sig|ns"
      const tag = f.significant ? 'sig' : 'ns';
      const d = (f.delta! * 100).toFixed(1).replace('-', '−').replace(/^(\d)/, '+$1');
      t.true(out.includes(`Δ ${d} ${tag} `) || out.includes(`Δ ${d} ${tag}│`), `${f.scheme}: Δ ${d} ${tag}`);
    }
  }
});

test.serial('vicinal run: the final report prints the compact terminal report, or every table with detail', async (t) => {
  const run = makeRun({ groups: [golden().groups![1]], seeds: [0, 1] });
  const capture = async (detail: boolean) => {
    const chunks: string[] = [];
    const write = process.stdout.write.bind(process.stdout);
    const log = console.log;
    process.stdout.write = ((c: string | Uint8Array) => {
      chunks.push(String(c));
      return true;
    }) as typeof process.stdout.write;
    console.log = (...a: unknown[]) => chunks.push(`${a.join(' ')}\n`);
    try {
      await finishRunReport(run.dir, false, detail);
    } finally {
      process.stdout.write = write;
      console.log = log;
    }
    return chunks.join('');
  };
  const compact = await capture(false);
  const detail = await capture(true);
  t.regex(compact, /^Findings, each scheme against erm/m);
  t.notRegex(compact, /Robust accuracy under pgd/);
  t.regex(detail, /Robust accuracy under pgd/);
  t.regex(compact, /report: .*report\.md/);
});
