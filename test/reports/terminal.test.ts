import test from 'ava';
import * as path from 'path';
import { groupFindings, runFindings } from '../../reports/findings';
import { groupAnswer, schemeSentences } from '../../reports/headline';
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
            norm: 'linf',
            eps: 0.05,
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

test('default terminal report opens with the answer per group, then one findings sentence per scheme, flags per check, one compact table per group', (t) => {
  const s = summarizeRun(makeRun(realistic()));
  const out = renderTerminal(s);
  const lines = out.split('\n');
  const at = (re: RegExp) => lines.findIndex((l) => re.test(l));
  const answer = at(/^Is each scheme more robust than erm\?/);
  const findings = at(/^Findings, each scheme against erm/);
  const flags = at(/^Sanity flags: 18 raised, by check/);
  const firstTable = at(/^┌/);
  t.is(answer, 2, 'the answer comes right after the title');
  t.true(answer < findings && findings < flags && flags < firstTable);
  const flat = squash(out);
  const all = runFindings(s);
  // The answer: one sentence per group, in group order, before anything else.
  let pos = 0;
  for (const gf of all) {
    const i = flat.indexOf(squash(groupAnswer(gf)), pos);
    t.true(i >= pos && i < flat.indexOf('Findings, each scheme'), gf.group);
    pos = i;
  }
  // Then one sentence per scheme (never the three per-metric sentences), and a group's flag line where it has flags.
  for (const [i, gf] of all.entries()) {
    const sentences = schemeSentences(gf);
    t.is(sentences.length, s.groups[i].rows.length - 1);
    for (const sentence of [...sentences, ...(s.groups[i].flags.length ? [gf.flagLine] : [])]) {
      const k = flat.indexOf(squash(sentence), pos);
      t.true(k >= pos, sentence);
      pos = k;
    }
    for (const sentence of gf.sentences) if (!sentences.includes(sentence)) t.false(flat.includes(squash(sentence)), sentence);
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
  // Detail keeps every sentence of the findings, with CIs.
  const flat = squash(out);
  for (const gf of runFindings(s)) for (const sentence of [...gf.sentences, gf.flagLine]) t.true(flat.includes(squash(sentence)), sentence);
  t.is(lines.filter((l) => /^ {2}\[warning\] /.test(l)).length, 18);
  for (const title of ['Robust accuracy under fgsm (%)', 'Robust accuracy under pgd (%)', 'Clean and worst-case robust accuracy (%)']) t.is(lines.filter((l) => l === title).length, 2, title);
  t.regex(out, /Probe medians: local-lipschitz/);
  for (const k of ['backend', 'tfjs', 'machine', 'wall time']) t.regex(out, new RegExp(`^ {2}${k} +`, 'm'));
  t.regex(out, /attack pgd: linf, ε ∈ \{0\.05, 0\.1, 0\.2, 0\.3\}/);
});

test('the first screen stays short: the golden run (2 groups, 4 schemes, 4 ε) fits in 85 lines, its answer in 8', (t) => {
  const out = renderTerminal(summarizeRun(makeRun(golden())));
  const lines = out.trimEnd().split('\n');
  t.true(lines.length <= 85, `${lines.length} lines`);
  const answer = lines.slice(
    2,
    lines.findIndex((l, i) => i > 2 && l === ''),
  );
  t.true(answer.length <= 8, answer.join('\n'));
  t.is(answer.filter((l) => /^ {2}\S/.test(l)).length, 2, 'one sentence per group');
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
