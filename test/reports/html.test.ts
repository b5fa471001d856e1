/**
 * Opens the HTML reports in a real browser (Debian's chromium, headless,
 * driven by playwright-core) and checks that the plots render: SVG elements
 * with the expected series, non-empty geometry, no console errors and no
 * network requests. Needs Debian's chromium (listed in scripts/system-deps.mjs,
 * which `npm test` runs first); CHROMIUM_PATH names another binary. Without it
 * these tests are skipped and reported, or fail under CI=true.
 */
import test from 'ava';
import * as fs from 'fs';
import * as path from 'path';
import { pathToFileURL } from 'url';
import { Browser, chromium, Page } from 'playwright-core';
import { VICINAL_SAMPLES } from '../../reports/figures2d';
import { GroupFindings, runFindings } from '../../reports/findings';
import { renderHistoryHtml, collectHistory } from '../../reports/history';
import { writeReport } from '../../reports/report';
import { summarizeRun } from '../../reports/summary';
import * as S from '../../reports/svg';
import { loadRun } from '../../contract/run-folder';
import { FixtureGroup, cleanupFixtures, makeRun, tmpDir } from './fixture';
import { saveFixtureModels } from './fixture-models';
import { needsSystemPackage } from '../system-deps';

const CHROMIUM = needsSystemPackage('chromium', __filename);
const ARGS = ['--headless', '--no-sandbox', '--disable-gpu', '--disable-quic', '--no-first-run', '--disable-background-networking', '--disable-component-update', '--disable-sync'];

const GROUPS: FixtureGroup[] = [
  { group: 'moons/mlp-8', dataset: { name: 'moons', seed: 0, nTrain: 300, nTest: 200, noise: 0.1 }, model: { arch: 'mlp', hidden: [8] } },
  { group: 'mnist/mlp-32', dataset: { name: 'mnist', seed: 0, nTrain: 800, nTest: 200 }, model: { arch: 'mlp', hidden: [32] } },
];
const SCHEMES = ['erm', 'mixup', 'mixup-asym'];

let browser: Browser | null = null;
let reportFile = '';
let historyFile = '';
let longNamesFile = '';
let findings: GroupFindings[] = [];

// Many schemes with long names (the nightly and full profiles' labels) and crowded ε ticks.
const LONG_SCHEMES = [
  'erm',
  'mixup(alpha=0.2)',
  'mixup(alpha=1)',
  'mixup-asym(alpha=0.2)',
  'mixup-asym(alpha=1)',
  'mixup-semi(labelledPerClass=621)',
  'mixup-knn(alpha=0.2, k=10)',
  'label-smoothing(eps=0.1)',
  'gaussian-noise(sigma=0.1)',
  'adversarial(eps=0.1)',
];

test.before(async () => {
  if (!CHROMIUM.present) return;
  const root = tmpDir('vicinal-html-');
  // mixup diverges in every seed of the moons group: it must appear as diverged, never as a curve.
  const run = makeRun({
    dir: path.join(root, 'run'),
    groups: GROUPS,
    schemes: SCHEMES,
    seeds: [0, 1],
    diverged: [
      { group: 'moons/mlp-8', scheme: 'mixup', seed: 0 },
      { group: 'moons/mlp-8', scheme: 'mixup', seed: 1 },
    ],
    flags: [
      {
        group: 'moons/mlp-8',
        scheme: 'mixup-asym',
        seed: 1,
        flag: { check: 'gradient-masking', severity: 'warning', norm: 'linf', eps: 0.1, message: 'linf:0.1: iterative pgd leaves 60.0% robust accuracy, more than single-step fgsm (50.0%)' },
      },
      {
        group: 'mnist/mlp-32',
        scheme: 'erm',
        seed: 0,
        flag: { check: 'steps-not-converged', severity: 'warning', norm: 'linf', eps: 0.1, message: 'pgd at linf eps 0.1: 80 steps lower robust accuracy from 40.0% (40 steps) to 35.0%' },
      },
      {
        group: 'mnist/mlp-32',
        scheme: 'erm',
        seed: 1,
        flag: { check: 'steps-not-converged', severity: 'warning', norm: 'linf', eps: 0.1, message: 'pgd at linf eps 0.1: 80 steps lower robust accuracy from 41.0% (40 steps) to 36.0%' },
      },
    ],
  });
  await saveFixtureModels(run);
  const loaded = loadRun(run.dir);
  const summary = summarizeRun(loaded);
  findings = runFindings(summary);
  const [file] = await writeReport(loaded, summary, path.join(run.dir, 'report'), ['html']);
  reportFile = file;
  // mnist only: no 2-D figures (no models needed).
  const long = makeRun({ dir: path.join(root, 'long'), groups: [GROUPS[1]], schemes: LONG_SCHEMES, seeds: [0, 1], eps: [0.01, 0.02, 0.05, 0.1, 0.2, 0.3] });
  [longNamesFile] = await writeReport(long, summarizeRun(long), path.join(long.dir, 'report'), ['html']);
  makeRun({ dir: path.join(root, 'runs', 'r2'), groups: [GROUPS[1]], seeds: [0, 1], startedAt: '2025-02-01T00:00:00.000Z' });
  makeRun({ dir: path.join(root, 'runs', 'r1'), groups: [GROUPS[1]], seeds: [0, 1], startedAt: '2025-01-01T00:00:00.000Z' });
  historyFile = path.join(root, 'history.html');
  fs.writeFileSync(historyFile, renderHistoryHtml(collectHistory(path.join(root, 'runs'), ['clean', 'worst', 'wall'])));
  browser = await chromium.launch({ executablePath: CHROMIUM.file, args: ARGS });
});

test.after.always(async () => {
  await browser?.close();
  cleanupFixtures();
});

/** Opens a file, recording console errors, page errors and any non-file request (which is blocked). */
async function open(file: string): Promise<{ page: Page; errors: string[]; requests: string[] }> {
  const page = await (browser as Browser).newPage({ viewport: { width: 1300, height: 900 } });
  const errors: string[] = [];
  const requests: string[] = [];
  page.on('console', (m) => {
    if (m.type() === 'error') errors.push(m.text());
  });
  page.on('pageerror', (e) => errors.push(String(e)));
  await page.route('**/*', (route) => {
    const url = route.request().url();
    if (url.startsWith('file:')) return route.continue();
    requests.push(url);
    return route.abort();
  });
  await page.goto(pathToFileURL(file).href, { waitUntil: 'load' });
  return { page, errors, requests };
}

const maybe = CHROMIUM.serial;

maybe('report HTML loads with no console errors and no network requests', async (t) => {
  const { page, errors, requests } = await open(reportFile);
  t.deepEqual(errors, []);
  t.deepEqual(requests, []);
  t.is(await page.title(), 'vicinal report: fixture');
  // Self-contained: no script, no external stylesheet or image.
  t.is(await page.locator('script').count(), 0);
  t.is(await page.locator('link[rel=stylesheet], img[src^=http]').count(), 0);
  await page.close();
});

maybe('robust accuracy vs eps: one plot per attack and the worst case, a line and CI band per finished scheme', async (t) => {
  const { page } = await open(reportFile);
  const plots = await page.evaluate(() =>
    Array.from(document.querySelectorAll('section[data-group="moons/mlp-8"] svg[data-plot="robust-vs-eps"]')).map((svg) => ({
      attack: svg.getAttribute('data-attack'),
      lines: Array.from(svg.querySelectorAll('path[data-kind="line"]')).map((p) => {
        const b = (p as SVGGraphicsElement).getBBox();
        return { series: p.getAttribute('data-series'), width: b.width, height: b.height, points: (p.getAttribute('d') ?? '').split(/[ML]/).filter(Boolean).length };
      }),
      bands: Array.from(svg.querySelectorAll('path[data-kind="band"]')).map((p) => ({
        series: p.getAttribute('data-series'),
        area: (p as SVGGraphicsElement).getBBox().width * (p as SVGGraphicsElement).getBBox().height,
      })),
      legend: Array.from(svg.querySelectorAll('[data-legend]')).map((g) => g.textContent),
      rendered: svg.getBoundingClientRect().width,
    })),
  );
  t.deepEqual(
    plots.map((p) => p.attack),
    ['fgsm', 'pgd', 'worst-case'],
  );
  for (const p of plots) {
    t.true(p.rendered > 100);
    t.deepEqual(
      p.lines.map((l) => l.series),
      ['erm', 'mixup-asym'],
      'diverged mixup draws no curve',
    );
    for (const l of p.lines) {
      t.is(l.points, 3, 'eps 0 (clean) + two eps');
      t.true(l.width > 50 && l.height > 1);
    }
    t.deepEqual(
      p.bands.map((b) => b.series),
      ['erm', 'mixup-asym'],
    );
    for (const b of p.bands) t.true(b.area > 0);
    t.true(p.legend.includes('mixup (diverged)'));
  }
  await page.close();
});

maybe('gradient-norm box plots: train / test / vicinal boxes per finished scheme, one row per scheme', async (t) => {
  const { page } = await open(reportFile);
  const boxes = await page.evaluate(() =>
    Array.from(document.querySelectorAll('section[data-group="moons/mlp-8"] svg[data-plot="probe-box"]')).map((svg) => ({
      family: svg.getAttribute('data-family'),
      boxes: Array.from(svg.querySelectorAll('g[data-kind="box"]')).map((g) => ({
        series: g.getAttribute('data-series'),
        location: g.getAttribute('data-location'),
        // Horizontal boxes: the quartile box spans the values along x.
        width: (g.querySelector('rect') as SVGGraphicsElement).getBBox().width,
      })),
    })),
  );
  t.deepEqual(
    boxes.map((b) => b.family),
    ['grad-l1', 'grad-l2', 'loss', 'local-lipschitz', 'margin'],
  );
  for (const b of boxes.slice(0, 3)) {
    t.deepEqual(
      b.boxes.map((x) => `${x.series}/${x.location}`),
      ['erm/train', 'erm/test', 'erm/vicinal', 'mixup-asym/train', 'mixup-asym/test', 'mixup-asym/vicinal'],
    );
    for (const x of b.boxes) t.true(x.width > 1);
  }
  t.deepEqual(
    boxes[3].boxes.map((x) => `${x.series}/${x.location}`),
    ['erm/linf:0.1', 'erm/linf:0.2', 'mixup-asym/linf:0.1', 'mixup-asym/linf:0.2'],
  );
  await page.close();
});

maybe('two moons: the four vicinal-sample panels and a decision boundary per scheme', async (t) => {
  const { page } = await open(reportFile);
  const panels = await page.evaluate(() =>
    Array.from(document.querySelectorAll('svg[data-plot="vicinity"]')).map((svg) => ({
      scheme: svg.getAttribute('data-scheme'),
      vicinal: svg.querySelectorAll('g[data-series="vicinal"] circle').length,
      point: svg.querySelectorAll('g[data-series="point"] circle').length,
      unlabelled: svg.querySelectorAll('g[data-series="unlabelled"] circle').length,
      labelled: svg.querySelectorAll('g[data-series="labelled"] circle').length,
      unavailable: svg.querySelectorAll('[data-kind="unavailable"]').length,
      caption: svg.parentElement?.querySelector('figcaption')?.textContent ?? '',
    })),
  );
  t.is(panels.length, 4);
  t.deepEqual(
    panels.map((p) => p.scheme),
    ['mixup-asym', 'mixup-semi', 'mixup-semi', 'mixup-asym'],
  );
  for (const p of panels) {
    t.is(p.unavailable, 0, p.caption);
    t.is(p.vicinal, VICINAL_SAMPLES);
    t.is(p.point, 1);
  }
  // The panels draw the α the run recorded for mixup-asym (its first, 0.2), and the λ draws follow
  // Beta(α+1, α): mean (α+1)/(2α+1) = 0.857, within 4 standard errors of 400 draws (sd 0.226).
  t.regex(panels[0].caption, /α=0\.2:/);
  const meanLambda = Number(/Mean λ \(weight on the point\) (\d+\.\d+)/.exec(panels[0].caption)?.[1]);
  t.true(Math.abs(meanLambda - 1.2 / 1.4) < (4 * 0.226) / Math.sqrt(400), `mean λ ${meanLambda}`);
  // 2 labelled + a 10,000-point pool; more labelled; all labelled (no pool).
  t.is(panels[1].labelled, 2);
  t.true(panels[1].unlabelled > 0);
  t.regex(panels[1].caption, /10,000 points/);
  t.is(panels[2].labelled, 100);
  t.is(panels[3].unlabelled, 0);

  const boundaries = await page.evaluate(() =>
    Array.from(document.querySelectorAll('svg[data-plot="boundary"]')).map((svg) => ({
      group: svg.getAttribute('data-group'),
      series: svg.getAttribute('data-series'),
      cells: svg.querySelectorAll('g[data-kind="heatmap"] rect').length,
      contours: Array.from(svg.querySelectorAll('path[data-kind="contour"]')).map((p) => Number(p.getAttribute('data-segments'))),
      unavailable: svg.querySelector('[data-kind="unavailable"]')?.textContent ?? null,
    })),
  );
  t.deepEqual(
    boundaries.map((b) => b.series),
    SCHEMES,
  );
  t.true(
    boundaries.every((b) => b.group === 'moons/mlp-8'),
    'no boundaries for mnist',
  );
  for (const b of boundaries.filter((x) => x.series !== 'mixup')) {
    t.true(b.cells > 10);
    t.is(b.contours.length, 2, 'one 0.5 contour per seed');
    t.true(b.contours.every((n) => n > 0));
  }
  const mixup = boundaries.find((b) => b.series === 'mixup')!;
  t.is(mixup.cells, 0);
  t.regex(mixup.unavailable ?? '', /diverged/);
  await page.close();
});

maybe('tables: a row per scheme, erm first, diverged cells marked', async (t) => {
  const { page } = await open(reportFile);
  const rows = await page.evaluate(() =>
    Array.from(document.querySelectorAll('section[data-group="moons/mlp-8"] table.results')).map((tb) =>
      Array.from(tb.querySelectorAll('tr[data-scheme]')).map((tr) => ({
        scheme: tr.getAttribute('data-scheme'),
        statuses: Array.from(tr.querySelectorAll('td')).map((td) => td.getAttribute('data-status')),
      })),
    ),
  );
  t.true(rows.length >= 4);
  for (const tb of rows) {
    t.deepEqual(
      tb.map((r) => r.scheme),
      SCHEMES,
    );
    t.true(tb[1].statuses.every((s) => s === 'diverged'));
  }
  await page.close();
});

maybe('history HTML: a line per scheme per metric, sorted runs, no errors', async (t) => {
  const { page, errors, requests } = await open(historyFile);
  t.deepEqual(errors, []);
  t.deepEqual(requests, []);
  const plots = await page.evaluate(() =>
    Array.from(document.querySelectorAll('svg[data-plot="history"]')).map((svg) => ({
      metric: svg.getAttribute('data-metric'),
      series: Array.from(svg.querySelectorAll('path[data-kind="line"]')).map((p) => p.getAttribute('data-series')),
      width: Math.max(0, ...Array.from(svg.querySelectorAll('path[data-kind="line"]')).map((p) => (p as SVGGraphicsElement).getBBox().width)),
    })),
  );
  t.deepEqual(
    plots.map((p) => p.metric),
    ['clean', 'worst@linf:0.1', 'worst@linf:0.2', 'wall'],
  );
  for (const p of plots.slice(0, 3)) {
    t.deepEqual(p.series, SCHEMES);
    t.true(p.width > 50);
  }
  t.deepEqual(plots[3].series, ['run']);
  await page.close();
});

maybe("reader's order: findings, then per group curves, summary table, probes, figures, every table collapsed; flags per check, every flag collapsed", async (t) => {
  const { page, errors } = await open(reportFile);
  t.deepEqual(errors, []);
  const layout = await page.evaluate(() => {
    const all = Array.from(document.querySelectorAll('#findings, section.group, section.group [data-part], section[data-part="flags"], section[data-part="flags"] details'));
    const pos = (el: Element | null) => (el ? all.indexOf(el) : -1);
    // Hidden inside a closed <details> (content-visibility), or not rendered at all.
    const visible = (el: Element | null) => !!el && el.checkVisibility() && el.getBoundingClientRect().height > 0;
    return {
      findings: pos(document.querySelector('#findings')),
      findingsText: Array.from(document.querySelectorAll('#findings [data-findings-group]')).map((d) => ({
        group: d.getAttribute('data-findings-group'),
        sentences: Array.from(d.querySelectorAll('li')).map((li) => ({ text: li.textContent, qualified: li.classList.contains('qualified') })),
        flagLine: d.querySelector('.flagline')?.textContent,
      })),
      groups: Array.from(document.querySelectorAll('section.group')).map((sec) => {
        const part = (p: string) => sec.querySelector(`:scope > [data-part="${p}"]`);
        const details = part('full-tables') as HTMLDetailsElement | null;
        return {
          group: sec.getAttribute('data-group'),
          at: pos(sec),
          parts: Array.from(sec.querySelectorAll(':scope > [data-part]')).map((e) => e.getAttribute('data-part')),
          compactVisible: visible(part('compact')?.querySelector('table.compact') ?? null),
          compactHead: Array.from(part('compact')?.querySelectorAll('table.compact tr:first-child th') ?? []).map((th) => th.textContent),
          compactRows: Array.from(part('compact')?.querySelectorAll('table.compact tr[data-scheme]') ?? []).map((tr) => tr.getAttribute('data-scheme')),
          fullOpen: details?.open ?? null,
          fullTables: details?.querySelectorAll('table.results').length ?? 0,
          fullVisible: visible(details?.querySelector('table.results') ?? null),
        };
      }),
      flags: pos(document.querySelector('section[data-part="flags"]')),
      flagSummary: Array.from(document.querySelectorAll('table.flag-summary tr[data-check]')).map((tr) => ({ check: tr.getAttribute('data-check'), count: tr.children[1].textContent })),
      flagListOpen: (document.querySelector('details[data-part="flag-list"]') as HTMLDetailsElement | null)?.open ?? null,
      flagRows: document.querySelectorAll('details[data-part="flag-list"] table.flags tr[data-severity]').length,
      flagListVisible: visible(document.querySelector('details[data-part="flag-list"] table.flags')),
    };
  });
  t.is(layout.findings, 0, 'the findings come before everything else');
  t.deepEqual(
    layout.findingsText.map((f) => f.group),
    GROUPS.map((g) => g.group),
  );
  for (const [i, f] of layout.findingsText.entries()) {
    t.deepEqual(
      f.sentences.map((x) => x.text),
      findings[i].sentences,
    );
    t.is(f.flagLine, findings[i].flagLine);
    for (const x of f.sentences) t.is(x.qualified, (x.text ?? '').includes('(qualified:'));
  }
  // The moons flag (gradient-masking at eps 0.1 on mixup-asym) qualifies mixup-asym's worst case at 0.1 only.
  t.true(layout.findingsText[0].sentences.some((x) => x.qualified && /at ε=0\.1 [^;]*\(qualified: gradient-masking on mixup-asym seed 1\)/.test(x.text ?? '')));
  t.true(layout.findingsText[0].sentences.some((x) => x.text === 'mixup: no comparison with erm: mixup has no finished seed (diverged).'));
  t.deepEqual(
    layout.groups.map((g) => g.parts),
    [
      ['curves', 'compact', 'probes', 'figures', 'full-tables'],
      ['curves', 'compact', 'probes', 'full-tables'],
    ],
  );
  for (const g of layout.groups) {
    t.true(g.at > layout.findings && g.at < layout.flags);
    t.true(g.compactVisible);
    t.deepEqual(g.compactHead, ['scheme', 'clean', 'worst ε=0.1', 'worst ε=0.2', 'grad-l1/test']);
    t.deepEqual(g.compactRows, SCHEMES);
    t.false(g.fullOpen, 'every table is collapsed');
    t.is(g.fullTables, 11);
    t.false(g.fullVisible);
  }
  t.deepEqual(layout.flagSummary, [
    { check: 'gradient-masking', count: '1 (warning)' },
    { check: 'steps-not-converged', count: '2 (warning)' },
  ]);
  t.false(layout.flagListOpen);
  t.is(layout.flagRows, 3);
  t.false(layout.flagListVisible);
  await page.close();
});

/** In the page: per plot, the axis labels and legend texts whose rendered boxes (getBoundingClientRect) intersect, and those outside the plot. */
function measureLabels(): { plot: string; x: number; y: number; legend: number; overlaps: string[]; outside: string[] }[] {
  return Array.from(document.querySelectorAll('svg[data-plot]')).map((svg) => {
    // Tick labels, axis titles and legend texts.
    const texts = Array.from(svg.querySelectorAll('text[data-axis], .legend-text'));
    const boxes = texts.map((e) => ({ text: e.textContent ?? '', r: e.getBoundingClientRect() }));
    const overlaps: string[] = [];
    for (let i = 0; i < boxes.length; i++)
      for (let j = i + 1; j < boxes.length; j++) {
        const a = boxes[i].r;
        const b = boxes[j].r;
        if (a.left < b.right && b.left < a.right && a.top < b.bottom && b.top < a.bottom) overlaps.push(`${boxes[i].text} / ${boxes[j].text}`);
      }
    const s = svg.getBoundingClientRect();
    const outside = boxes.filter(({ r }) => r.left < s.left - 0.5 || r.right > s.right + 0.5 || r.top < s.top - 0.5 || r.bottom > s.bottom + 0.5).map((b) => b.text);
    return {
      plot: `${svg.getAttribute('data-plot')}:${svg.getAttribute('data-family') ?? svg.getAttribute('data-attack') ?? ''}`,
      x: svg.querySelectorAll('text[data-axis="x"]').length,
      y: svg.querySelectorAll('text[data-axis="y"]').length,
      legend: svg.querySelectorAll('.legend-text').length,
      overlaps,
      outside,
    };
  });
}

maybe('axis labels never overlap: ten long scheme names and crowded ε ticks, measured in Chromium', async (t) => {
  const { page, errors } = await open(longNamesFile);
  t.deepEqual(errors, []);
  const plots = await page.evaluate(measureLabels);
  const box = plots.filter((p) => p.plot.startsWith('probe-box'));
  const curves = plots.filter((p) => p.plot.startsWith('robust-vs-eps'));
  t.is(box.length, 5);
  t.is(curves.length, 3);
  for (const p of box) t.is(p.y, LONG_SCHEMES.length, `${p.plot}: a label per scheme`);
  for (const p of curves) t.is(p.legend, LONG_SCHEMES.length, `${p.plot}: a legend row per scheme`);
  for (const p of plots) {
    t.true(p.x >= 2, `${p.plot}: x labels drawn`);
    t.deepEqual(p.overlaps, [], p.plot);
    t.deepEqual(p.outside, [], p.plot);
  }
  await page.close();
});

maybe('the overlap measurement finds overlaps where they exist: scheme names as x categories 90 px apart', async (t) => {
  // The former box-plot layout: one x category per scheme, 90 px apart.
  const f = S.frame({ width: 90 * LONG_SCHEMES.length + 200, height: 300, xDomain: [0, LONG_SCHEMES.length], yDomain: [0, 1], margin: { right: 170, left: 64 } });
  const svg = S.svg(f.width, f.height, S.axes(f, { xCategories: LONG_SCHEMES }), { title: 'control', plot: 'control' });
  const page = await (browser as Browser).newPage({ viewport: { width: 1300, height: 900 } });
  await page.setContent(`<!doctype html><html><head><style>body{font:14px system-ui,sans-serif}svg .tick{font-size:11px}</style></head><body>${svg}</body></html>`);
  const [control] = await page.evaluate(measureLabels);
  t.is(control.x, LONG_SCHEMES.length);
  t.true(control.overlaps.length >= 3, control.overlaps.join('; '));
  await page.close();
});
