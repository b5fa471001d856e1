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
import { renderHistoryHtml, collectHistory } from '../../reports/history';
import { writeReport } from '../../reports/report';
import { summarizeRun } from '../../reports/summary';
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
  });
  await saveFixtureModels(run);
  const loaded = loadRun(run.dir);
  const [file] = await writeReport(loaded, summarizeRun(loaded), path.join(run.dir, 'report'), ['html']);
  reportFile = file;
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
      bands: Array.from(svg.querySelectorAll('path[data-kind="band"]')).map((p) => ({ series: p.getAttribute('data-series'), area: (p as SVGGraphicsElement).getBBox().width * (p as SVGGraphicsElement).getBBox().height })),
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

maybe('gradient-norm box plots: train / test / vicinal boxes per finished scheme', async (t) => {
  const { page } = await open(reportFile);
  const boxes = await page.evaluate(() =>
    Array.from(document.querySelectorAll('section[data-group="moons/mlp-8"] svg[data-plot="probe-box"]')).map((svg) => ({
      family: svg.getAttribute('data-family'),
      boxes: Array.from(svg.querySelectorAll('g[data-kind="box"]')).map((g) => ({
        series: g.getAttribute('data-series'),
        location: g.getAttribute('data-location'),
        height: (g.querySelector('rect') as SVGGraphicsElement).getBBox().height,
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
    for (const x of b.boxes) t.true(x.height > 1);
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
  t.regex(panels[0].caption, /α=0\.1/);
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
  t.true(boundaries.every((b) => b.group === 'moons/mlp-8'), 'no boundaries for mnist');
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
      Array.from(tb.querySelectorAll('tr[data-scheme]')).map((tr) => ({ scheme: tr.getAttribute('data-scheme'), statuses: Array.from(tr.querySelectorAll('td')).map((td) => td.getAttribute('data-status')) })),
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
