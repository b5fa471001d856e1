import test from 'ava';
import { axes, band, contourSegments, esc, frame, hBoxPlot, heatmap, line, linearScale, logScale, niceTicks, scatter, textWidth, wrapLabel } from '../../reports/svg';

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
  t.regex(
    line(
      f,
      [
        [0, 0],
        [1, 1],
      ],
      s,
    ),
    /^<path data-series="mixup\(alpha=0\.2\)" data-kind="line" data-attack="pgd" d="M/,
  );
  t.regex(
    band(
      f,
      [
        [0, 0.1, 0.3],
        [1, 0.5, 0.7],
      ],
      s,
    ),
    /data-kind="band"/,
  );
  t.regex(scatter(f, [[0.5, 0.5]], s), /data-kind="points"[^>]*><circle /);
  // Non-finite points are skipped, not drawn at NaN.
  t.notRegex(
    line(
      f,
      [
        [0, 0],
        [0.5, NaN],
        [1, 1],
      ],
      s,
    ),
    /NaN/,
  );
});

test('heatmap merges equal neighbouring cells', (t) => {
  const f = frame({ width: 200, height: 100, xDomain: [0, 4], yDomain: [0, 2] });
  const g = { xs: [0.5, 1.5, 2.5, 3.5], ys: [0.5, 1.5], values: [0, 0, 1, 1, 0, 0, 0, 0] };
  const out = heatmap(f, g, (v) => (v > 0.5 ? 'red' : 'blue'), { series: 'erm' });
  t.is((out.match(/<rect /g) ?? []).length, 3);
  t.regex(out, /data-cells="8"/);
});

test('wrapLabel: lines within the width estimate, breaking after "(", ",", "-", "=" or a space; nothing lost', (t) => {
  for (const label of ['mixup-semi(labelledPerClass=621)', 'mixup-knn(alpha=0.2, k=10)', 'label-smoothing(eps=0.1)', 'erm', 'averyveryverylongschemenamewithoutbreaks']) {
    for (const maxPx of [60, 100, 210]) {
      const lines = wrapLabel(label, maxPx);
      for (const l of lines) t.true(textWidth(l) <= maxPx, `${label} @${maxPx}: ${l}`);
      t.is(lines.join('').replace(/ /g, ''), label.replace(/ /g, ''));
      if (textWidth(label) <= maxPx) t.deepEqual(lines, [label]);
    }
  }
  t.deepEqual(wrapLabel('mixup-semi(labelledPerClass=621)', 150), ['mixup-semi(', 'labelledPerClass=621)']);
  t.true(textWidth('mmmm') > textWidth('iiii'));
});

/** [left, right] of each x tick label, from its x and the width estimate (labels are centred). */
function xLabelSpans(svgText: string): [number, number][] {
  return [...svgText.matchAll(/<text x="([\d.]+)"[^>]*data-axis="x">([^<]*)<\/text>/g)].map((m) => {
    const w = textWidth(m[2]);
    return [Number(m[1]) - w / 2, Number(m[1]) + w / 2];
  });
}

test('axes: crowded x tick labels are left out so that the kept ones do not overlap; every tick keeps its mark', (t) => {
  const f = frame({ width: 400, height: 200, xDomain: [0, 0.3], yDomain: [0, 1] });
  const ticks = [0, 0.005, 0.01, 0.02, 0.03, 0.05, 0.1, 0.2, 0.3];
  const out = axes(f, { xTicks: ticks });
  const spans = xLabelSpans(out).sort((a, b) => a[0] - b[0]);
  t.true(spans.length >= 4 && spans.length < ticks.length, `kept ${spans.length}`);
  for (let i = 1; i < spans.length; i++) t.true(spans[i][0] >= spans[i - 1][1], `${spans[i - 1]} / ${spans[i]}`);
  t.is((out.match(/class="tickmark"/g) ?? []).length, ticks.length + 6, 'x marks for every tick, plus the six y marks');
  // Well-spaced ticks all keep their labels.
  t.is(xLabelSpans(axes(f, { xTicks: [0, 0.1, 0.2, 0.3] })).length, 4);
});

test('axes: y category labels, one text per category with a tspan per line, right-aligned left of the axis', (t) => {
  const f = frame({ width: 400, height: 200, xDomain: [0, 1], yDomain: [2, 0], margin: { left: 120 } });
  const out = axes(f, { yCategories: [['erm'], ['mixup-semi(', 'labelledPerClass=621)']] });
  const texts = [...out.matchAll(/<text [^>]*data-axis="y">(.*?)<\/text>/g)];
  t.is(texts.length, 2);
  t.is((texts[1][1].match(/<tspan /g) ?? []).length, 2);
  t.regex(texts[0][0], /text-anchor="end"/);
  // Row 0 is at the top (y domain reversed), row 1 below it.
  const ys = texts.map((m) => Number(/ y="([\d.]+)"/.exec(m[0])![1]));
  t.true(ys[0] < ys[1]);
});

test('horizontal box: the box spans q25..q75 along x, the median line sits at the median, whiskers reach q05 and q95', (t) => {
  const f = frame({ width: 300, height: 100, xDomain: [0, 10], yDomain: [1, 0], margin: { left: 0, right: 0, top: 0, bottom: 0 } });
  const out = hBoxPlot(f, 0.5, 0.2, { q05: 1, q25: 2, median: 3, q75: 5, q95: 9 }, { series: 'erm', color: '#000' });
  const rect = /<rect x="([\d.]+)" y="([\d.]+)" width="([\d.]+)" height="([\d.]+)"/.exec(out)!;
  t.is(Number(rect[1]), f.x(2));
  t.is(Number(rect[3]), f.x(5) - f.x(2));
  t.is(Number(rect[4]), 20, 'thickness 0.2 of a 100 px domain');
  const xs = [...out.matchAll(/<line x1="([\d.]+)" x2="([\d.]+)"/g)].map((m) => [Number(m[1]), Number(m[2])]);
  t.deepEqual(xs[0], [f.x(1), f.x(2)]);
  t.deepEqual(xs[1], [f.x(5), f.x(9)]);
  t.deepEqual(xs[4], [f.x(3), f.x(3)], 'the median line, after the whiskers and caps');
  t.regex(out, /data-kind="box"/);
});
