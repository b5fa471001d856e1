import test from 'ava';
import { CSV_COLUMNS, renderCsv } from '../../reports/csv';
import { renderJson } from '../../reports/json';
import { runFindings } from '../../reports/findings';
import { renderMarkdown } from '../../reports/markdown';
import { SUMMARY_FORMAT, summarizeRun } from '../../reports/summary';
import { renderTerminal } from '../../reports/terminal';
import { FixtureGroup, cleanupFixtures, makeRun } from './fixture';

test.after.always(cleanupFixtures);

const GROUPS: FixtureGroup[] = [
  { group: 'moons/mlp-16x16', dataset: { name: 'moons', seed: 0, nTrain: 200, nTest: 200, noise: 0.1 }, model: { arch: 'mlp', hidden: [16, 16] } },
  { group: 'mnist/mlp-32', dataset: { name: 'mnist', seed: 0, nTrain: 800, nTest: 200 }, model: { arch: 'mlp', hidden: [32] } },
];

/** Minimal RFC 4180 parser (quoted fields with "" escapes). */
function parseCsv(text: string): string[][] {
  const rows: string[][] = [];
  let row: string[] = [];
  let field = '';
  let quoted = false;
  for (let i = 0; i < text.length; i++) {
    const ch = text[i];
    if (quoted) {
      if (ch === '"' && text[i + 1] === '"') {
        field += '"';
        i++;
      } else if (ch === '"') quoted = false;
      else field += ch;
    } else if (ch === '"') quoted = true;
    else if (ch === ',') {
      row.push(field);
      field = '';
    } else if (ch === '\n') {
      row.push(field);
      rows.push(row);
      row = [];
      field = '';
    } else field += ch;
  }
  if (field || row.length) {
    row.push(field);
    rows.push(row);
  }
  return rows;
}

/** The Markdown tables of a section: header row + body rows (separator dropped). */
function mdTables(md: string): string[][][] {
  const tables: string[][][] = [];
  let cur: string[][] | null = null;
  for (const line of md.split('\n')) {
    if (line.startsWith('|')) {
      const cells = line
        .slice(1, -1)
        .split(/(?<!\\)\|/)
        .map((c) => c.trim());
      if (!cur) {
        cur = [];
        tables.push(cur);
      }
      if (!cells.every((c) => /^:?-+:?$/.test(c))) cur.push(cells);
    } else cur = null;
  }
  return tables;
}

const diverging = () =>
  makeRun({
    groups: GROUPS,
    seeds: [0, 1, 2],
    diverged: [
      { group: 'moons/mlp-16x16', scheme: 'mixup', seed: 0 },
      { group: 'moons/mlp-16x16', scheme: 'mixup', seed: 1 },
      { group: 'moons/mlp-16x16', scheme: 'mixup', seed: 2 },
      { group: 'mnist/mlp-32', scheme: 'mixup-asym', seed: 1 },
    ],
  });

test('markdown: findings first, a summary table per group, then one table per section per group; a row per scheme, erm first, diverged shown as diverged', (t) => {
  const run = diverging();
  const s = summarizeRun(run);
  const md = renderMarkdown(s);
  // Reader's order: findings, summary tables, flags, run header, full tables, methods.
  const order = ['## Findings', '### moons/mlp-16x16', '## Summary tables', 'No sanity flags raised.', '## Run', '## moons/mlp-16x16', '## mnist/mlp-32', '## Methods'].map((x) =>
    md.indexOf(`\n${x}\n`),
  );
  t.true(
    order.every((x, i) => x > 0 && (i === 0 || x > order[i - 1])),
    `positions ${order}`,
  );
  for (const gf of runFindings(s)) for (const sentence of gf.sentences) t.true(md.includes(`- ${sentence}`), sentence);
  t.true(md.includes('- mixup: no comparison with erm: mixup has no finished seed (diverged).'));
  const tables = mdTables(md);
  // A summary table per group (clean, worst per ε, gradient norm), then per group: clean+worst, fgsm, pgd,
  // then probe families grad-l1, grad-l2, loss, local-lipschitz, margin, first-order/measured, /predicted, /ratio; no flags table.
  t.is(tables.length, 2 + 2 * 11);
  for (const tb of tables.slice(0, 2)) t.deepEqual(tb[0], ['scheme', 'clean', 'worst ε=0.1', 'worst ε=0.2', 'grad-l1/test']);
  for (const tb of tables) {
    t.is(tb[0][0], 'scheme');
    t.is(tb.length, 1 + 3, 'header + 3 schemes');
    t.deepEqual(
      tb.slice(1).map((r) => r[0]),
      ['erm', 'mixup', 'mixup-asym'],
    );
  }
  // moons: mixup diverged in every seed -> every cell of its row says "diverged", no digits.
  const moonsTables = [tables[0], ...tables.slice(2, 13)];
  for (const tb of moonsTables) {
    for (const cell of tb[2].slice(1)) t.is(cell, 'diverged');
  }
  // mnist: mixup-asym partial -> numbers with the note.
  t.regex(tables[13][3][1], /^[\d.]+ ± [\d.]+<br>\[2\/3 seeds \(1 diverged\)\]<br>Δ /);
  t.regex(md, /mixup: seed 0 diverged \(training diverged in epoch 2: mean loss is NaN\)/);
  // Header facts.
  for (const k of ['backend', 'gpu', 'tfjs', 'seeds', 'wall time', 'attack pgd', 'sizes']) t.true(md.includes(`**${k}**`), k);
  t.regex(md, /No sanity flags raised/);
  t.regex(md, /## Methods/);
});

test('markdown: one seed says "n=1, no CI" and never "sig"', (t) => {
  const md = renderMarkdown(summarizeRun(makeRun({ seeds: [0] })));
  t.regex(md, /\(n=1, no CI\)/);
  const tableLines = md.split('\n').filter((l) => l.startsWith('|'));
  t.false(tableLines.some((l) => / sig(<| |\|)/.test(l)));
  t.true(tableLines.some((l) => / n=1(<| |\|)/.test(l)));
});

test('markdown: sanity flags summarised per check, every flag listed, and the qualified finding says so', (t) => {
  const md = renderMarkdown(
    summarizeRun(
      makeRun({
        seeds: [0, 1],
        flags: [
          { scheme: 'erm', seed: 0, flag: { check: 'non-monotone', severity: 'warning', norm: 'linf', eps: 0.2, message: 'pgd@linf: robust accuracy rises | odd at eps 0.2' } },
          { scheme: 'mixup', seed: 1, flag: { check: 'non-monotone', severity: 'warning', norm: 'linf', eps: 0.2, message: 'pgd@linf: again at eps 0.2' } },
        ],
      }),
    ),
  );
  t.regex(md, /## Sanity flags \(2\)/);
  t.regex(md, /^- \*\*non-monotone\*\* ×2 \(warning\) in moons\/mlp-16x16: erm, mixup; e\.g\. erm seed 0: pgd@linf: robust accuracy rises \\\| odd at eps 0\.2$/m);
  t.regex(md, /\| warning \| non-monotone \| moons\/mlp-16x16 \| erm \| 0 \| pgd@linf: robust accuracy rises \\\| odd at eps 0\.2 \|/);
  t.regex(md, /^- mixup: worst-case robust accuracy at ε=0\.1 [^;(]*; at ε=0\.2 [^;]*\(qualified: non-monotone on mixup seed 1 and erm seed 0\)/m);
  t.true(md.indexOf('## Findings') < md.indexOf('## Sanity flags'));
});

test('csv: long format, one row per group x scheme x attack x eps x seed, diverged rows without numbers', (t) => {
  const run = diverging();
  const s = summarizeRun(run);
  const rows = parseCsv(renderCsv(s, run));
  t.deepEqual(rows[0], [...CSV_COLUMNS]);
  const body = rows.slice(1).map((r) => Object.fromEntries(CSV_COLUMNS.map((c, i) => [c, r[i]])));
  // per group: 3 schemes x 3 seeds x (clean + 2 attacks x 2 eps + 2 worst eps) = 9 x 7
  t.is(body.length, 2 * 9 * 7);
  for (const r of body) t.is(Object.keys(r).length, CSV_COLUMNS.length);
  const div = body.filter((r) => r.status === 'diverged');
  t.is(div.length, 3 * 7 + 7);
  for (const r of div) {
    t.is(r.accuracy, '');
    t.regex(r.error, /diverged/);
  }
  const ok = body.filter((r) => r.status === 'ok');
  t.is(ok.length, body.length - div.length);
  for (const r of ok) {
    const v = Number(r.accuracy);
    t.true(v >= 0 && v <= 1);
  }
  // Values match the summary.
  const g = s.groups[1];
  const erm = g.rows[0];
  const pgd = body.find((r) => r.group === 'mnist/mlp-32' && r.scheme === 'erm' && r.seed === '2' && r.attack === 'pgd' && r.eps === '0.2');
  t.is(Number(pgd?.accuracy), erm.cells['robust:pgd@linf:0.2'].values.find((v) => v.seed === 2)?.value as number);
  t.truthy(body.find((r) => r.attack === 'clean' && r.eps === '0'));
  t.truthy(body.find((r) => r.attack === 'worst-case' && r.eps === '0.1'));
});

test('json: the comparison model, parseable, diverged cells without numbers', (t) => {
  const s = summarizeRun(diverging());
  const j = JSON.parse(renderJson(s));
  t.is(j.format, SUMMARY_FORMAT);
  t.is(j.groups.length, 2);
  const mixup = j.groups[0].rows[1];
  t.is(mixup.scheme, 'mixup');
  t.is(mixup.cells.clean.status, 'diverged');
  t.is(mixup.cells.clean.stat, null);
  t.is(j.groups[1].rows[0].cells.clean.stat.n, 3);
  t.true(Array.isArray(j.methods));
});

test('terminal: tables drawn, erm first, diverged rows read "diverged"', (t) => {
  const out = renderTerminal(summarizeRun(diverging()));
  t.regex(out, /== moons\/mlp-16x16 ==/);
  t.regex(out, /== mnist\/mlp-32 ==/);
  t.regex(out, /│ erm\s+│/);
  const lines = out.split('\n');
  const firstErm = lines.findIndex((l) => /│ erm\s+│/.test(l));
  const firstMixup = lines.findIndex((l) => /│ mixup\s+│/.test(l));
  t.true(firstErm > 0 && firstErm < firstMixup);
  t.regex(lines[firstMixup], /│\s+diverged │/);
  t.regex(out, /backend\s+wasm/);
});
