import test from 'ava';
import { band, boxPlot, contourSegments, esc, frame, heatmap, line, linearScale, logScale, niceTicks, scatter } from '../../reports/svg';

test('scales map domain ends to range ends', (t) => {
  const s = linearScale([0, 10], [50, 250]);
  t.is(s(0), 50);
  t.is(s(10), 250);
  t.is(s(5), 150);
  const l = logScale([1, 1000], [0, 300]);
  t.is(l(1), 0);
  t.true(Math.abs(l(10) - 100) < 1e-9);
  t.deepEqual(l.ticks(), [1, 10, 100, 1000]);
});

test('nice ticks cover the domain with round steps', (t) => {
  t.deepEqual(niceTicks(0, 1, 5), [0, 0.2, 0.4, 0.6, 0.8, 1]);
  t.deepEqual(niceTicks(0, 0.3, 4), [0, 0.1, 0.2, 0.3]);
  t.deepEqual(niceTicks(-3, 3, 6), [-3, -2, -1, 0, 1, 2, 3]);
});

test('escaping of text and attributes', (t) => {
  t.is(esc('a<b & "c" \'d\''), 'a&lt;b &amp; &quot;c&quot; &#39;d&#39;');
});

test('contour of a linear field lies on the true iso-line', (t) => {
  const xs = Array.from({ length: 21 }, (_, i) => -1 + i * 0.1);
  const ys = xs.slice();
  const values: number[] = [];
  for (const y of ys) for (const x of xs) values.push(x + 2 * y); // level 0.3: x + 2y = 0.3
  const segs = contourSegments({ xs, ys, values }, 0.3);
  t.true(segs.length > 10);
  for (const [p, q] of segs) {
    t.true(Math.abs(p[0] + 2 * p[1] - 0.3) < 1e-9);
    t.true(Math.abs(q[0] + 2 * q[1] - 0.3) < 1e-9);
  }
  t.is(contourSegments({ xs, ys, values }, 100).length, 0);
});

test('series elements carry data-series and data-kind attributes', (t) => {
  const f = frame({ width: 200, height: 100, xDomain: [0, 1], yDomain: [0, 1] });
  const s = { series: 'mixup(alpha=0.2)', color: '#123456', data: { attack: 'pgd' } };
  t.regex(line(f, [[0, 0], [1, 1]], s), /^<path data-series="mixup\(alpha=0\.2\)" data-kind="line" data-attack="pgd" d="M/);
  t.regex(band(f, [[0, 0.1, 0.3], [1, 0.5, 0.7]], s), /data-kind="band"/);
  t.regex(scatter(f, [[0.5, 0.5]], s), /data-kind="points"[^>]*><circle /);
  t.regex(boxPlot(f, 0.5, 0.2, { q05: 0.1, q25: 0.2, median: 0.3, q75: 0.4, q95: 0.5 }, s), /data-kind="box"/);
  // Non-finite points are skipped, not drawn at NaN.
  t.notRegex(line(f, [[0, 0], [0.5, NaN], [1, 1]], s), /NaN/);
});

test('heatmap merges equal neighbouring cells', (t) => {
  const f = frame({ width: 200, height: 100, xDomain: [0, 4], yDomain: [0, 2] });
  const g = { xs: [0.5, 1.5, 2.5, 3.5], ys: [0.5, 1.5], values: [0, 0, 1, 1, 0, 0, 0, 0] };
  const out = heatmap(f, g, (v) => (v > 0.5 ? 'red' : 'blue'), { series: 'erm' });
  t.is((out.match(/<rect /g) ?? []).length, 3);
  t.regex(out, /data-cells="8"/);
});
