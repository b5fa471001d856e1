/**
 * The first screen: the answer per group in one sentence, then one sentence
 * per scheme. Both are read off the same findings (findings.ts) as the full
 * sentences of the files, with the same verdicts (stats.ts): significant only
 * when the 95% CI over seeds excludes 0 and the paired sign-flip test agrees.
 * The CIs and p-values stay in the full sentences (--detail, report.md).
 *
 * A group's answer names, per direction, the schemes whose worst-case robust
 * accuracy differs significantly from erm's, at which ε and by how many
 * points, and says where nothing does, e.g. "mnist/mlp-256x256: no scheme is
 * more robust than erm at any ε; all four are significantly less robust at
 * ε=0.1 (−3.4 to −6.9 points)".
 */
import { epsLabel } from '../contract/keys';
import { fmtSigned, fmtValue, fmtNumber } from './format';
import { Finding, GroupFindings, noDataText, plural, seedsText } from './findings';
import { BASELINE } from './summary';

/** How the answer counts every compared scheme (two or more). */
const ALL = ['', '', 'both', 'all three', 'all four', 'all five', 'all six', 'all seven', 'all eight', 'all nine', 'all ten'];

/** "a", "a and b", "a, b and c". */
function listText(xs: string[]): string {
  return xs.length < 2 ? (xs[0] ?? '') : `${xs.slice(0, -1).join(', ')} and ${xs[xs.length - 1]}`;
}

const unique = <T>(xs: T[]): T[] => [...new Set(xs)];

/** "ε=0.1", "ε=0.1 and 0.2"; with ℓ∞ and ℓ2 columns in one group each ε names its norm. */
function epsText(fs: Finding[]): string {
  const normTags = new Set(fs.map((f) => f.norm)).size > 1;
  return `ε=${listText(unique(fs.map((f) => (normTags ? `${epsLabel(f.eps as number)} (${f.norm === 'l2' ? 'ℓ2' : 'ℓ∞'})` : epsLabel(f.eps as number)))))}`;
}

/** "−3.4 points" or "−3.4 to −6.9 points" (smallest change first); the findings share a direction. */
function rangeText(fs: Finding[]): string {
  const shown = unique(
    fs
      .map((f) => f.delta as number)
      .sort((a, b) => Math.abs(a) - Math.abs(b))
      .map((d) => fmtSigned(d, 'accuracy')),
  );
  return `${shown.length === 1 ? shown[0] : `${shown[0]} to ${shown[shown.length - 1]}`} points`;
}

/** Schemes with the same significant ε in one direction, with those findings. */
interface Cluster {
  schemes: string[];
  findings: Finding[];
}

function clusters(worst: Finding[], direction: 1 | -1): Cluster[] {
  const byKey = new Map<string, Cluster>();
  for (const scheme of unique(worst.map((f) => f.scheme))) {
    const mine = worst.filter((f) => f.scheme === scheme && f.significant && f.direction === direction);
    if (!mine.length) continue;
    const key = mine.map((f) => f.column).join('|');
    const c = byKey.get(key) ?? { schemes: [], findings: [] };
    c.schemes.push(scheme);
    c.findings.push(...mine);
    byKey.set(key, c);
  }
  return [...byKey.values()];
}

/** "mixup is significantly more robust than erm at ε=0.1 (+3.1 points), mixup-asym at ε=0.1 and 0.2 (+2.0 to +4.4 points)". */
function clusterText(cs: Cluster[], compared: string[], comparison: string): string {
  return cs
    .map((c, i) => {
      const all = c.schemes.length === compared.length && compared.length > 1;
      const who = all ? (ALL[compared.length] ?? `all ${compared.length}`) : listText(c.schemes);
      const verb = i > 0 ? '' : ` ${c.schemes.length > 1 ? 'are' : 'is'} ${comparison}`;
      return `${who}${verb} at ${epsText(c.findings)} (${rangeText(c.findings)})`;
    })
    .join(', ');
}

/** The answer for one group, in one sentence. */
export function groupAnswer(gf: GroupFindings): string {
  const head = `${gf.group}: `;
  const base = gf.baseline;
  if (!base) return `${head}no ${BASELINE} row, so nothing to compare against.`;
  const worst = gf.findings.filter((f) => f.metric === 'worst');
  const schemes = unique(gf.findings.map((f) => f.scheme));
  if (!schemes.length) return `${head}only ${base} ran, so nothing to compare.`;
  const compared = schemes.filter((s) => worst.some((f) => f.scheme === s && f.delta !== null));
  const missing = schemes.filter((s) => !compared.includes(s));
  const tail = missing.length ? `; not compared: ${missing.map((s) => noDataText(gf.findings.find((f) => f.scheme === s) as Finding)).join('; ')}` : '';
  if (!compared.length) return `${head}no scheme's robust accuracy could be compared with ${base}'s${tail}.`;
  const withData = worst.filter((f) => f.delta !== null);
  if (withData.every((f) => f.verdict === 'n=1, no CI')) return `${head}one seed only, so no difference from ${base} in robust accuracy is called significant${tail}.`;
  const gains = clusters(worst, 1);
  const losses = clusters(worst, -1);
  const significant = worst.filter((f) => f.significant);
  if (!significant.length) return `${head}no scheme's worst-case robust accuracy differs significantly from ${base}'s at any ε (${epsText(withData).slice(2)})${tail}.`;
  const parts = [
    gains.length ? clusterText(gains, compared, `significantly more robust than ${base}`) : `no scheme is more robust than ${base} at any ε`,
    losses.length ? clusterText(losses, compared, `significantly less robust${gains.length ? ` than ${base}` : ''}`) : 'none is significantly less robust',
  ];
  const neutral = compared.filter((s) => !significant.some((f) => f.scheme === s));
  if (neutral.length) parts.push(`${listText(neutral)} ${neutral.length > 1 ? 'show' : 'shows'} no significant change`);
  const qualified = significant.filter((f) => f.qualifiers.length).length;
  if (qualified) parts.push(`${qualified} of these ${plural(significant.length, 'difference')} ${qualified === 1 ? 'is' : 'are'} qualified by a sanity flag`);
  return `${head}${parts.join('; ')}${tail}.`;
}

/** "significant", "not significant", "one seed, no CI" (or "one seed, test-set CI only" when per-example data gave one). */
const verdictText = (f: Finding) => (f.verdict === 'n=1, no CI' ? (f.testCI ? 'one seed, test-set CI only' : 'one seed, no CI') : f.verdict);

/** The worst-case clauses of one scheme, by verdict: "significantly more robust at ε=0.1 and 0.2 (+15.0, +22.9 points)". */
function worstClauses(worst: Finding[]): string[] {
  const out: string[] = [];
  const deltas = (fs: Finding[]) => `${fs.map((f) => fmtSigned(f.delta as number, 'accuracy')).join(', ')} points`;
  const kinds: [string, (f: Finding) => boolean][] = [
    ['significantly more robust', (f) => f.significant && f.direction > 0],
    ['significantly less robust', (f) => f.significant && f.direction < 0],
    ['no significant change', (f) => f.delta !== null && !f.significant && f.verdict !== 'n=1, no CI'],
    [`robust accuracy on one seed (${worst.some((f) => f.testCI) ? 'test-set CI only' : 'no CI'})`, (f) => f.verdict === 'n=1, no CI'],
  ];
  for (const [what, pick] of kinds) {
    const fs = worst.filter((f) => f.delta !== null && pick(f));
    if (fs.length) out.push(`${what} at ${epsText(fs)} (${deltas(fs)})`);
  }
  const none = worst.filter((f) => f.delta === null);
  if (none.length) out.push(`robust accuracy not compared at ${epsText(none)} (${noDataText(none[0])})`);
  return out;
}

/** Where a qualified finding sits: "ε=0.1", "clean accuracy", "gradient norm". */
function findingPlace(f: Finding): string {
  return f.metric === 'worst' ? `ε=${epsLabel(f.eps as number)}` : f.metric === 'clean' ? 'clean accuracy' : 'gradient norm';
}

/** "; qualified: gradient-masking on mixup seed 1 (ε=0.1)", or "". */
function qualifiedText(mine: Finding[]): string {
  const at = new Map<string, string[]>();
  for (const f of mine) {
    for (const q of f.qualifiers) {
      const key = `${q.check} on ${q.on.map((o) => `${o.scheme} seed${o.seeds.length === 1 ? '' : 's'} ${o.seeds.join(', ')}`).join(' and ')}`;
      at.set(key, [...(at.get(key) ?? []), findingPlace(f)]);
    }
  }
  return at.size ? `; qualified: ${[...at].map(([q, places]) => `${q} (${places.join(', ')})`).join('; ')}` : '';
}

/** "median input-gradient ℓ1 norm" (the full sentences also say where: at test points). */
function gradientShortName(probe: string): string {
  const fam = probe.split('/')[0];
  return `median input-gradient ${fam === 'grad-l1' ? 'ℓ1' : fam === 'grad-l2' ? 'ℓ2' : fam} norm`;
}

/** One sentence for one scheme: robust accuracy by verdict, clean accuracy, gradient norm, seeds, qualifications. */
export function schemeSentence(mine: Finding[], gradientProbe: string | null): string {
  const { scheme, baseline } = mine[0];
  if (mine.every((f) => f.delta === null)) return `${scheme}: no comparison with ${baseline}: ${noDataText(mine[0])}.`;
  const parts = worstClauses(mine.filter((f) => f.metric === 'worst'));
  for (const f of mine.filter((x) => x.metric === 'clean')) {
    parts.push(f.delta === null ? `clean accuracy not compared (${noDataText(f)})` : `clean accuracy ${fmtSigned(f.delta, 'accuracy')} points (${verdictText(f)})`);
  }
  for (const f of mine.filter((x) => x.metric === 'gradient')) {
    const name = gradientShortName(gradientProbe ?? f.column.replace(/^probe:/, ''));
    if (f.delta === null || f.mean === null || f.baselineMean === null) parts.push(`${name} not compared`);
    else if (f.baselineMean > 0) parts.push(`${name} ×${fmtNumber(f.mean / f.baselineMean, 2)} of ${baseline}'s (${verdictText(f)})`);
    else parts.push(`${name} ${fmtValue(f.mean, 'value')} (Δ ${fmtSigned(f.delta, 'value')}, ${verdictText(f)})`);
  }
  const withData = mine.find((f) => f.delta !== null) as Finding;
  return `${scheme}: ${parts.join('; ')}; ${seedsText(withData)}${qualifiedText(mine)}.`;
}

/** One sentence per scheme of a group, in the group's scheme order. */
export function schemeSentences(gf: GroupFindings): string[] {
  if (!gf.baseline || !gf.findings.length) return [];
  return unique(gf.findings.map((f) => f.scheme)).map((s) =>
    schemeSentence(
      gf.findings.filter((f) => f.scheme === s),
      gf.gradientProbe,
    ),
  );
}
