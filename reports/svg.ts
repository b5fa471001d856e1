/**
 * Plotting primitives that emit inline SVG strings: scales, a plot frame,
 * axes, lines, CI bands, scatter, heatmap, contour, box plots and legends.
 * One implementation each; the HTML report composes them. Every series
 * element carries data attributes (data-series, data-kind, ...) so tests and
 * readers can find it in the DOM.
 */

export type Point = readonly [number, number];

/** XML/HTML text and attribute escaping. */
export function esc(s: string | number): string {
  return String(s).replace(/&/g, '&amp;').replace(/</g, '&lt;').replace(/>/g, '&gt;').replace(/"/g, '&quot;').replace(/'/g, '&#39;');
}

/** Coordinates rounded to 0.01 px to keep files small. */
function r2(v: number): string {
  return (Math.round(v * 100) / 100).toString();
}

/** Attribute string from a record (undefined/null/false skipped). */
export function attrs(a: Record<string, string | number | boolean | undefined | null>): string {
  return Object.entries(a)
    .filter(([, v]) => v !== undefined && v !== null && v !== false)
    .map(([k, v]) => (v === true ? ` ${k}` : ` ${k}="${esc(v as string | number)}"`))
    .join('');
}

export interface Scale {
  (v: number): number;
  domain: [number, number];
  range: [number, number];
  log: boolean;
  ticks(count?: number): number[];
}

/** "Nice" tick values covering [lo, hi]: steps of 1, 2, 2.5 or 5 times a power of ten. */
export function niceTicks(lo: number, hi: number, count = 5): number[] {
  if (!Number.isFinite(lo) || !Number.isFinite(hi)) return [];
  if (lo === hi) return [lo];
  const span = hi - lo;
  const raw = span / Math.max(1, count);
  const mag = 10 ** Math.floor(Math.log10(raw));
  const step = [1, 2, 2.5, 5, 10].map((m) => m * mag).find((s) => span / s <= count) ?? 10 * mag;
  const out: number[] = [];
  for (let v = Math.ceil(lo / step - 1e-9) * step; v <= hi + step * 1e-9; v += step) out.push(Math.abs(v) < step * 1e-9 ? 0 : Number(v.toPrecision(12)));
  return out;
}

export function linearScale(domain: [number, number], range: [number, number]): Scale {
  const [d0, d1] = domain;
  const [r0, r1] = range;
  const k = d1 === d0 ? 0 : (r1 - r0) / (d1 - d0);
  const f = ((v: number) => (d1 === d0 ? (r0 + r1) / 2 : r0 + (v - d0) * k)) as Scale;
  f.domain = domain;
  f.range = range;
  f.log = false;
  f.ticks = (count = 5) => niceTicks(Math.min(d0, d1), Math.max(d0, d1), count);
  return f;
}

/** Base-10 log scale; the domain must be positive. */
export function logScale(domain: [number, number], range: [number, number]): Scale {
  const [d0, d1] = domain;
  if (!(d0 > 0 && d1 > 0)) throw new Error(`log scale needs a positive domain, got [${d0}, ${d1}]`);
  const l0 = Math.log10(d0);
  const l1 = Math.log10(d1);
  const inner = linearScale([l0, l1], range);
  const f = ((v: number) => inner(Math.log10(Math.max(v, Number.MIN_VALUE)))) as Scale;
  f.domain = domain;
  f.range = range;
  f.log = true;
  f.ticks = () => {
    const out: number[] = [];
    for (let e = Math.floor(Math.min(l0, l1)); e <= Math.ceil(Math.max(l0, l1)); e++) {
      const v = 10 ** e;
      if (v >= Math.min(d0, d1) * (1 - 1e-9) && v <= Math.max(d0, d1) * (1 + 1e-9)) out.push(v);
    }
    return out.length >= 2 ? out : [Math.min(d0, d1), Math.max(d0, d1)];
  };
  return f;
}

export interface Margin {
  top: number;
  right: number;
  bottom: number;
  left: number;
}

/** A plot area: outer size, margins and the two scales mapping data to pixels. */
export interface Frame {
  width: number;
  height: number;
  margin: Margin;
  x: Scale;
  y: Scale;
}

export function frame(o: { width: number; height: number; xDomain: [number, number]; yDomain: [number, number]; xLog?: boolean; yLog?: boolean; margin?: Partial<Margin> }): Frame {
  const margin = { top: 16, right: 16, bottom: 44, left: 56, ...o.margin };
  const xr: [number, number] = [margin.left, o.width - margin.right];
  const yr: [number, number] = [o.height - margin.bottom, margin.top];
  return {
    width: o.width,
    height: o.height,
    margin,
    x: o.xLog ? logScale(o.xDomain, xr) : linearScale(o.xDomain, xr),
    y: o.yLog ? logScale(o.yDomain, yr) : linearScale(o.yDomain, yr),
  };
}

export interface AxesOptions {
  xLabel?: string;
  yLabel?: string;
  xTicks?: number[];
  yTicks?: number[];
  xFormat?: (v: number) => string;
  yFormat?: (v: number) => string;
  /** Category labels drawn at x = i + 0.5 instead of numeric x ticks. */
  xCategories?: string[];
  /** Category labels drawn at y = i + 0.5 instead of numeric y ticks, one or more lines each (right-aligned left of the axis). */
  yCategories?: string[][];
  grid?: boolean;
}

export function fmtTick(v: number): string {
  if (v === 0) return '0';
  const a = Math.abs(v);
  if (a >= 1e4 || a < 1e-3) return v.toExponential(0);
  return Number(v.toPrecision(4)).toString();
}

/** Tick label font size (px), as set by the reports' CSS for `.tick`. */
export const TICK_FONT_PX = 11;
/** Line height of multi-line category labels (px). */
export const TICK_LINE_PX = 13;

/**
 * Estimated rendered width of a text in px, erring wide: per-character
 * advance widths (in em) close to DejaVu Sans, one of the widest common
 * sans-serif fonts, which headless Chromium on Debian falls back to.
 */
export function textWidth(text: string, fontPx = TICK_FONT_PX): number {
  let em = 0;
  for (const ch of text) {
    if (/[il.,:;!|'`]/.test(ch)) em += 0.32;
    else if (/[fjrt()[\]{}\-/\\ ]/.test(ch)) em += 0.42;
    else if (/[mwMW]/.test(ch)) em += 1.0;
    else if (/[=+<>~±×*#%&@]/.test(ch)) em += 0.86;
    else if (/[0-9]/.test(ch)) em += 0.64;
    else if (/[A-Z]/.test(ch)) em += 0.76;
    else if (/[a-z_?$"]/.test(ch)) em += 0.63;
    else em += 0.8;
  }
  return em * fontPx;
}

/**
 * Splits a label into lines no wider than `maxPx` (estimated), breaking after
 * "(", ",", "-", "=" or a space where possible, else inside a word.
 */
export function wrapLabel(label: string, maxPx: number, fontPx = TICK_FONT_PX): string[] {
  if (textWidth(label, fontPx) <= maxPx) return [label];
  const lines: string[] = [];
  let rest = label;
  while (rest.length && textWidth(rest, fontPx) > maxPx) {
    let fit = 1;
    while (fit < rest.length && textWidth(rest.slice(0, fit + 1), fontPx) <= maxPx) fit++;
    let cut = fit;
    for (let i = fit; i > Math.floor(fit / 3); i--) {
      if (/[(,\-= ]/.test(rest[i - 1])) {
        cut = i;
        break;
      }
    }
    lines.push(rest.slice(0, cut).trimEnd());
    rest = rest.slice(cut).trimStart();
  }
  if (rest.length) lines.push(rest);
  return lines;
}

/** The ticks whose labels, centred at their pixel positions, do not overlap an earlier kept one (4 px apart at least). */
function spacedTicks(ticks: { px: number; label: string }[]): Set<number> {
  const kept = new Set<number>();
  let lastRight = -Infinity;
  ticks.forEach((t, i) => {
    const w = textWidth(t.label);
    if (t.px - w / 2 >= lastRight + 4) {
      kept.add(i);
      lastRight = t.px + w / 2;
    }
  });
  return kept;
}

/** Axis lines, ticks, tick labels (never overlapping: crowded x labels are left out), optional grid, axis titles. */
export function axes(f: Frame, o: AxesOptions = {}): string {
  const [x0, x1] = f.x.range;
  const [y0, y1] = f.y.range;
  const out: string[] = [`<g class="axes" data-kind="axes">`];
  const xf = o.xFormat ?? fmtTick;
  const yf = o.yFormat ?? fmtTick;
  if (o.xCategories) {
    o.xCategories.forEach((c, i) => {
      const x = f.x(i + 0.5);
      out.push(`<text x="${r2(x)}" y="${r2(y0 + 16)}" text-anchor="middle" class="tick" data-axis="x">${esc(c)}</text>`);
    });
  } else {
    const ticks = (o.xTicks ?? f.x.ticks(6)).map((t) => ({ t, px: f.x(t), label: xf(t) }));
    const order = ticks.map((_, i) => i).sort((a, b) => ticks[a].px - ticks[b].px);
    const keptSorted = spacedTicks(order.map((i) => ticks[i]));
    const kept = new Set(order.filter((_, k) => keptSorted.has(k)));
    ticks.forEach(({ px: x, label }, i) => {
      if (o.grid) out.push(`<line x1="${r2(x)}" x2="${r2(x)}" y1="${r2(y0)}" y2="${r2(y1)}" class="grid"/>`);
      out.push(`<line x1="${r2(x)}" x2="${r2(x)}" y1="${r2(y0)}" y2="${r2(y0 + 5)}" class="tickmark"/>`);
      if (kept.has(i)) out.push(`<text x="${r2(x)}" y="${r2(y0 + 17)}" text-anchor="middle" class="tick" data-axis="x">${esc(label)}</text>`);
    });
  }
  if (o.yCategories) {
    o.yCategories.forEach((lines, i) => {
      const y = f.y(i + 0.5);
      const first = -((lines.length - 1) * TICK_LINE_PX) / 2 + 4;
      const spans = lines.map((l, k) => `<tspan x="${r2(x0 - 8)}" dy="${k === 0 ? r2(first) : TICK_LINE_PX}">${esc(l)}</tspan>`).join('');
      out.push(`<text x="${r2(x0 - 8)}" y="${r2(y)}" text-anchor="end" class="tick" data-axis="y">${spans}</text>`);
    });
  } else {
    for (const t of o.yTicks ?? f.y.ticks(5)) {
      const y = f.y(t);
      if (o.grid) out.push(`<line x1="${r2(x0)}" x2="${r2(x1)}" y1="${r2(y)}" y2="${r2(y)}" class="grid"/>`);
      out.push(`<line x1="${r2(x0 - 5)}" x2="${r2(x0)}" y1="${r2(y)}" y2="${r2(y)}" class="tickmark"/>`);
      out.push(`<text x="${r2(x0 - 8)}" y="${r2(y + 4)}" text-anchor="end" class="tick" data-axis="y">${esc(yf(t))}</text>`);
    }
  }
  out.push(`<line x1="${r2(x0)}" x2="${r2(x1)}" y1="${r2(y0)}" y2="${r2(y0)}" class="axis"/>`);
  out.push(`<line x1="${r2(x0)}" x2="${r2(x0)}" y1="${r2(y0)}" y2="${r2(y1)}" class="axis"/>`);
  if (o.xLabel) out.push(`<text x="${r2((x0 + x1) / 2)}" y="${r2(f.height - 6)}" text-anchor="middle" class="label" data-axis="x-title">${esc(o.xLabel)}</text>`);
  if (o.yLabel) {
    const cy = (y0 + y1) / 2;
    out.push(`<text x="14" y="${r2(cy)}" text-anchor="middle" transform="rotate(-90 14 ${r2(cy)})" class="label" data-axis="y-title">${esc(o.yLabel)}</text>`);
  }
  out.push('</g>');
  return out.join('');
}

export interface SeriesStyle {
  series: string;
  color: string;
  /** Extra data-* attributes (keys without the "data-" prefix). */
  data?: Record<string, string | number>;
  dash?: string;
  width?: number;
  opacity?: number;
}

function dataAttrs(s: SeriesStyle, kind: string): string {
  const d: Record<string, string | number> = { 'data-series': s.series, 'data-kind': kind };
  for (const [k, v] of Object.entries(s.data ?? {})) d[`data-${k}`] = v;
  return attrs(d);
}

function pathData(f: Frame, pts: readonly Point[]): string {
  return pts.map(([x, y], i) => `${i ? 'L' : 'M'}${r2(f.x(x))},${r2(f.y(y))}`).join('');
}

/** A polyline through data points (skipping non-finite ones). */
export function line(f: Frame, pts: readonly Point[], s: SeriesStyle): string {
  const ok = pts.filter(([x, y]) => Number.isFinite(x) && Number.isFinite(y));
  if (ok.length === 0) return '';
  return `<path${dataAttrs(s, 'line')} d="${pathData(f, ok)}" fill="none" stroke="${esc(s.color)}" stroke-width="${s.width ?? 2}"${s.dash ? ` stroke-dasharray="${esc(s.dash)}"` : ''}/>`;
}

/** A filled band between lower and upper curves sharing x values: [x, lo, hi]. */
export function band(f: Frame, pts: readonly (readonly [number, number, number])[], s: SeriesStyle): string {
  const ok = pts.filter((p) => p.every(Number.isFinite));
  if (ok.length === 0) return '';
  const upper = ok.map(([x, , hi]) => [x, hi] as Point);
  const lower = ok.map(([x, lo]) => [x, lo] as Point).reverse();
  let d = `${pathData(f, [...upper, ...lower])}Z`;
  if (ok.length === 1) {
    // A single point: draw an error bar so the interval stays visible.
    const [x, lo, hi] = ok[0];
    d = `M${r2(f.x(x) - 4)},${r2(f.y(hi))}H${r2(f.x(x) + 4)}V${r2(f.y(lo))}H${r2(f.x(x) - 4)}Z`;
  }
  return `<path${dataAttrs(s, 'band')} d="${d}" fill="${esc(s.color)}" fill-opacity="${s.opacity ?? 0.18}" stroke="none"/>`;
}

/** Circles at data points, grouped. */
export function scatter(f: Frame, pts: readonly Point[], s: SeriesStyle & { r?: number; stroke?: string; hollow?: boolean }): string {
  const r = s.r ?? 3;
  const fill = s.hollow ? 'none' : esc(s.color);
  const stroke = s.hollow ? esc(s.color) : s.stroke ? esc(s.stroke) : 'none';
  const body = pts
    .filter(([x, y]) => Number.isFinite(x) && Number.isFinite(y))
    .map(([x, y]) => `<circle cx="${r2(f.x(x))}" cy="${r2(f.y(y))}" r="${r}"/>`)
    .join('');
  return `<g${dataAttrs(s, 'points')} fill="${fill}" stroke="${stroke}" fill-opacity="${s.opacity ?? 1}" data-count="${pts.length}">${body}</g>`;
}

/** A regular grid of values: value at (xs[i], ys[j]) is values[j * xs.length + i]; xs and ys are cell centres, ascending. */
export interface Grid {
  xs: number[];
  ys: number[];
  values: ArrayLike<number>;
}

/**
 * Cells of a grid coloured by `color(value)`. Horizontally adjacent cells of
 * the same colour are merged into one rectangle (quantise the colour map to
 * keep the file small).
 */
export function heatmap(f: Frame, g: Grid, color: (v: number) => string, s: Omit<SeriesStyle, 'color'>): string {
  const nx = g.xs.length;
  const ny = g.ys.length;
  // Cell edges: midpoints between centres, extended by half a step at the ends.
  const edges = (c: number[]): number[] => {
    if (c.length === 1) return [c[0] - 0.5, c[0] + 0.5];
    const e = [c[0] - (c[1] - c[0]) / 2];
    for (let i = 0; i + 1 < c.length; i++) e.push((c[i] + c[i + 1]) / 2);
    e.push(c[c.length - 1] + (c[c.length - 1] - c[c.length - 2]) / 2);
    return e;
  };
  const ex = edges(g.xs);
  const ey = edges(g.ys);
  const cells: string[] = [];
  for (let j = 0; j < ny; j++) {
    const ya = f.y(ey[j + 1]);
    const yb = f.y(ey[j]);
    let i = 0;
    while (i < nx) {
      const c = color(g.values[j * nx + i]);
      let k = i + 1;
      while (k < nx && color(g.values[j * nx + k]) === c) k++;
      const xa = f.x(ex[i]);
      const xb = f.x(ex[k]);
      cells.push(`<rect x="${r2(Math.min(xa, xb))}" y="${r2(Math.min(ya, yb))}" width="${r2(Math.abs(xb - xa) + 0.3)}" height="${r2(Math.abs(yb - ya) + 0.3)}" fill="${c}"/>`);
      i = k;
    }
  }
  return `<g${dataAttrs({ ...s, color: '' }, 'heatmap')} shape-rendering="crispEdges" data-cells="${nx * ny}">${cells.join('')}</g>`;
}

/** Segments of the iso-line value = level by marching squares (linear interpolation on cell edges). */
export function contourSegments(g: Grid, level: number): [Point, Point][] {
  const nx = g.xs.length;
  const ny = g.ys.length;
  const v = (i: number, j: number) => g.values[j * nx + i] - level;
  const segs: [Point, Point][] = [];
  const lerp = (x0: number, y0: number, a: number, x1: number, y1: number, b: number): Point => {
    const t = a === b ? 0.5 : a / (a - b);
    return [x0 + t * (x1 - x0), y0 + t * (y1 - y0)];
  };
  for (let j = 0; j + 1 < ny; j++) {
    for (let i = 0; i + 1 < nx; i++) {
      const a = v(i, j);
      const b = v(i + 1, j);
      const c = v(i + 1, j + 1);
      const d = v(i, j + 1);
      const [x0, x1, y0, y1] = [g.xs[i], g.xs[i + 1], g.ys[j], g.ys[j + 1]];
      // Crossing points on the four edges (bottom, right, top, left).
      const pts: Point[] = [];
      if (a > 0 !== b > 0) pts.push(lerp(x0, y0, a, x1, y0, b));
      if (b > 0 !== c > 0) pts.push(lerp(x1, y0, b, x1, y1, c));
      if (c > 0 !== d > 0) pts.push(lerp(x1, y1, c, x0, y1, d));
      if (d > 0 !== a > 0) pts.push(lerp(x0, y1, d, x0, y0, a));
      if (pts.length === 2) segs.push([pts[0], pts[1]]);
      else if (pts.length === 4) {
        // Saddle: decide by the centre value.
        const centre = (a + b + c + d) / 4;
        if (centre > 0 === a > 0) {
          segs.push([pts[0], pts[1]], [pts[2], pts[3]]);
        } else {
          segs.push([pts[0], pts[3]], [pts[1], pts[2]]);
        }
      }
    }
  }
  return segs;
}

/** The iso-line value = level of a grid as one path. */
export function contour(f: Frame, g: Grid, level: number, s: SeriesStyle): string {
  const segs = contourSegments(g, level);
  const d = segs.map(([p, q]) => `M${r2(f.x(p[0]))},${r2(f.y(p[1]))}L${r2(f.x(q[0]))},${r2(f.y(q[1]))}`).join('');
  return `<path${dataAttrs(s, 'contour')} d="${d}" fill="none" stroke="${esc(s.color)}" stroke-width="${s.width ?? 1.5}"${s.dash ? ` stroke-dasharray="${esc(s.dash)}"` : ''} data-segments="${segs.length}"/>`;
}

export interface BoxStats {
  q05: number;
  q25: number;
  median: number;
  q75: number;
  q95: number;
}

/** A box (q25..q75, median line) with whiskers to q05 and q95, drawn horizontally: values along x, centred at data y with data thickness h. */
export function hBoxPlot(f: Frame, y: number, h: number, b: BoxStats, s: SeriesStyle): string {
  const yt = f.y(y + h / 2);
  const yb = f.y(y - h / 2);
  const [top, bottom] = [Math.min(yt, yb), Math.max(yt, yb)];
  const yc = f.y(y);
  const [x05, x25, x50, x75, x95] = [b.q05, b.q25, b.median, b.q75, b.q95].map((v) => f.x(v));
  const c = esc(s.color);
  const cap = (bottom - top) / 4;
  return (
    `<g${dataAttrs(s, 'box')}>` +
    `<line x1="${r2(x05)}" x2="${r2(x25)}" y1="${r2(yc)}" y2="${r2(yc)}" stroke="${c}"/>` +
    `<line x1="${r2(x75)}" x2="${r2(x95)}" y1="${r2(yc)}" y2="${r2(yc)}" stroke="${c}"/>` +
    `<line x1="${r2(x05)}" x2="${r2(x05)}" y1="${r2(yc - cap)}" y2="${r2(yc + cap)}" stroke="${c}"/>` +
    `<line x1="${r2(x95)}" x2="${r2(x95)}" y1="${r2(yc - cap)}" y2="${r2(yc + cap)}" stroke="${c}"/>` +
    `<rect x="${r2(Math.min(x25, x75))}" y="${r2(top)}" width="${r2(Math.max(1, Math.abs(x75 - x25)))}" height="${r2(bottom - top)}" fill="${c}" fill-opacity="0.35" stroke="${c}"/>` +
    `<line x1="${r2(x50)}" x2="${r2(x50)}" y1="${r2(top)}" y2="${r2(bottom)}" stroke="${c}" stroke-width="2"/>` +
    `</g>`
  );
}

export interface LegendItem {
  label: string;
  color: string;
  series?: string;
  dash?: string;
  /** "line" (default), "box" or "dot". */
  mark?: 'line' | 'box' | 'dot';
}

/** Legend text font size (px), as set by the reports' CSS for `.legend-text`. */
export const LEGEND_FONT_PX = 11;

/** Width in px a legend of these items takes (mark, gap, the longest label after shortening to `maxChars`). */
export function legendWidth(items: LegendItem[], maxChars = 30): number {
  const shown = items.map((it) => (it.label.length > maxChars ? `${it.label.slice(0, maxChars - 1)}…` : it.label));
  return 24 + Math.max(0, ...shown.map((l) => textWidth(l, LEGEND_FONT_PX)));
}

/** A legend in rows, starting at (x, y) in pixels; labels longer than `maxChars` are shortened (full text in a tooltip). */
export function legend(items: LegendItem[], x: number, y: number, rowHeight = 16, maxChars = 30): string {
  const out = [`<g class="legend" data-kind="legend">`];
  items.forEach((it, i) => {
    const yy = y + i * rowHeight;
    const c = esc(it.color);
    const mark =
      it.mark === 'box'
        ? `<rect x="${x}" y="${yy - 6}" width="18" height="10" fill="${c}" fill-opacity="0.35" stroke="${c}"/>`
        : it.mark === 'dot'
          ? `<circle cx="${x + 9}" cy="${yy - 1}" r="4" fill="${c}"/>`
          : `<line x1="${x}" x2="${x + 18}" y1="${yy - 1}" y2="${yy - 1}" stroke="${c}" stroke-width="2"${it.dash ? ` stroke-dasharray="${esc(it.dash)}"` : ''}/>`;
    // Long labels are shortened (the full text stays in a tooltip title).
    const shown = it.label.length > maxChars ? `${it.label.slice(0, maxChars - 1)}…` : it.label;
    const tip = shown === it.label ? '' : `<title>${esc(it.label)}</title>`;
    out.push(`<g${attrs({ 'data-legend': it.series ?? it.label })}>${tip}${mark}<text x="${x + 24}" y="${yy + 3}" class="legend-text">${esc(shown)}</text></g>`);
  });
  out.push('</g>');
  return out.join('');
}

/** A complete <svg> element (fixed viewBox, scales with CSS width). */
export function svg(width: number, height: number, content: string, o: { title: string; plot?: string; data?: Record<string, string> } = { title: '' }): string {
  const d: Record<string, string | number> = { xmlns: 'http://www.w3.org/2000/svg', viewBox: `0 0 ${width} ${height}`, width, height, role: 'img' };
  if (o.plot) d['data-plot'] = o.plot;
  for (const [k, v] of Object.entries(o.data ?? {})) d[`data-${k}`] = v;
  return `<svg${attrs(d)}><title>${esc(o.title)}</title>${content}</svg>`;
}

/** A clip path for the plot area of a frame (use with clip-path="url(#id)"). */
export function clipRect(f: Frame, id: string): string {
  const [x0, x1] = f.x.range;
  const [y0, y1] = f.y.range;
  return `<clipPath id="${esc(id)}"><rect x="${r2(Math.min(x0, x1))}" y="${r2(Math.min(y0, y1))}" width="${r2(Math.abs(x1 - x0))}" height="${r2(Math.abs(y1 - y0))}"/></clipPath>`;
}

/** Categorical colours (colour-blind friendly, Okabe-Ito order, then greys). */
export const PALETTE = ['#0072B2', '#D55E00', '#009E73', '#CC79A7', '#E69F00', '#56B4E9', '#F0E442', '#000000', '#999999', '#7F3C8D'];

export function colorAt(i: number): string {
  return PALETTE[i % PALETTE.length];
}

/** Blue (0) - white (0.5) - red (1) for probabilities. */
export function divergingColor(v: number): string {
  const t = Math.min(1, Math.max(0, Number.isFinite(v) ? v : 0.5));
  const lo = [33, 102, 172];
  const mid = [247, 247, 247];
  const hi = [178, 24, 43];
  const [a, b, u] = t < 0.5 ? [lo, mid, t / 0.5] : [mid, hi, (t - 0.5) / 0.5];
  const c = a.map((x, i) => Math.round(x + (b[i] - x) * u));
  return `rgb(${c[0]},${c[1]},${c[2]})`;
}
