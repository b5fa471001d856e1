/**
 * The key grammar of results: the one place that builds and parses the keys
 * under which an eval result stores per-example outcomes and probe
 * distributions, and the column keys of the summary built from them.
 *
 *   robust outcome    "<attack>@<norm>:<eps>"        e.g. "pgd@linf:0.1", "transfer:erm@linf:0.3"
 *   worst case        "worst-case@<norm>:<eps>"
 *   transfer attack   "transfer:<source>"            (an attack name)
 *   probe             "<family>/<where>"             e.g. "grad-l1/test" (where: train, test, vicinal)
 *   probe at a ball   "<family>@<norm>:<eps>"        e.g. "local-lipschitz@linf:0.3"
 *   other probes      "<name>"                       e.g. "margin", "margin-first-order"
 *
 * ε identity is exact: a key carries ε as its canonical JavaScript number
 * string (String(eps), the shortest string that reads back as the same
 * double), parsing returns that same number, and a key whose ε is not in
 * canonical form ("0.10", "1e-1") does not parse. Two keys name the same ε
 * exactly when their strings are equal; nothing compares ε with a tolerance.
 * The attack name may itself contain ':' or '@'; the norm and ε never do.
 */
import type { Norm } from './norms';

export const WORST_CASE = 'worst-case';
const TRANSFER_PREFIX = 'transfer:';
/** Where gradient-norm and loss probes are taken, besides ε-balls. */
export const PROBE_SETS = ['train', 'test', 'vicinal'] as const;
export type ProbeSet = (typeof PROBE_SETS)[number];

/** ε as a key writes it: the canonical number string. Throws for a non-finite ε (no key can carry it). */
export function epsText(eps: number): string {
  if (typeof eps !== 'number' || !Number.isFinite(eps)) throw new Error(`a result key needs a finite eps, got ${eps}`);
  // -0 reads as "0": the same radius.
  return String(eps === 0 ? 0 : eps);
}

/**
 * ε for people to read: its key text when that is short ("0.1", "0.2", which
 * is also 51/255), else "8/255" when ε is exactly the double k/255 for an
 * integer k in 1..254 (how image radii are written: 2/255, 4/255, 8/255),
 * else the key text. Display only: keys keep `epsText`.
 */
export function epsLabel(eps: number): string {
  const text = epsText(eps);
  if (text.length <= 6) return text;
  const k = Math.round(eps * 255);
  return k >= 1 && k <= 254 && k / 255 === eps ? `${k}/255` : text;
}

/** The ε of a key's text: the number whose canonical string it is, else null. */
export function parseEpsText(text: string): number | null {
  if (text === '') return null;
  const eps = Number(text);
  return Number.isFinite(eps) && String(eps) === text ? eps : null;
}

/** "norm:eps": where a ball probe was taken (the part after '@' of a probe key). */
export function ballKey(norm: string, eps: number): string {
  return `${norm}:${epsText(eps)}`;
}

/** Parses "norm:eps"; null when the text is no ball. */
export function parseBallKey(text: string): { norm: string; eps: number } | null {
  const colon = text.indexOf(':');
  if (colon <= 0 || colon !== text.lastIndexOf(':')) return null;
  const norm = text.slice(0, colon);
  if (!isNormText(norm)) return null;
  const eps = parseEpsText(text.slice(colon + 1));
  return eps === null ? null : { norm, eps };
}

function isNormText(s: string): boolean {
  if (s.length === 0) return false;
  for (const ch of s) if (!((ch >= 'a' && ch <= 'z') || (ch >= '0' && ch <= '9'))) return false;
  return true;
}

/** "attack@norm:eps": the key of one attack at one epsilon. */
export function robustKey(attack: string, norm: string, eps: number): string {
  return `${attack}@${ballKey(norm, eps)}`;
}

/** Parses "attack@norm:eps" (the last '@' splits); null when the key does not follow the grammar. */
export function parseRobustKey(key: string): { attack: string; norm: string; eps: number } | null {
  const at = key.lastIndexOf('@');
  if (at <= 0) return null;
  const ball = parseBallKey(key.slice(at + 1));
  return ball && { attack: key.slice(0, at), ...ball };
}

/** "worst-case@norm:eps": per-example survival of every attack at that epsilon. */
export function worstCaseKey(norm: Norm, eps: number): string {
  return robustKey(WORST_CASE, norm, eps);
}

/** Parses a worst-case key; null for any other key. */
export function parseWorstCaseKey(key: string): { norm: string; eps: number } | null {
  const p = parseRobustKey(key);
  return p && p.attack === WORST_CASE ? { norm: p.norm, eps: p.eps } : null;
}

/** "transfer:<source>": the attack name of examples crafted on the model of `source`. */
export function transferAttackName(source: string): string {
  if (!source) throw new Error('transfer: the source needs a name');
  return `${TRANSFER_PREFIX}${source}`;
}

/** The source of a transfer attack name, else null. */
export function parseTransferAttackName(name: string): string | null {
  return name.startsWith(TRANSFER_PREFIX) && name.length > TRANSFER_PREFIX.length ? name.slice(TRANSFER_PREFIX.length) : null;
}

/** "attack@norm" without the epsilon: groups one attack's results across epsilons. */
export function attackNormKey(attack: string, norm: string): string {
  return `${attack}@${norm}`;
}

/** "family/set" (grad-l1/test) or "family@norm:eps" (local-lipschitz@linf:0.3): the key of a probe distribution. */
export function probeKey(family: string, where: ProbeSet | { norm: string; eps: number }): string {
  return typeof where === 'string' ? `${family}/${where}` : `${family}@${ballKey(where.norm, where.eps)}`;
}

/**
 * Family and location of a probe key: "grad-l1/test" -> (grad-l1, test,
 * no ball), "local-lipschitz@linf:0.3" -> (local-lipschitz, "linf:0.3",
 * ball linf 0.3), "first-order/ratio@linf:0.3" -> (first-order/ratio, ...),
 * "margin-first-order" -> (margin, margin-first-order); any other name is its
 * own family with no location.
 */
export function parseProbeKey(key: string): { family: string; location: string; ball: { norm: string; eps: number } | null } {
  const at = key.indexOf('@');
  if (at > 0) {
    const location = key.slice(at + 1);
    return { family: key.slice(0, at), location, ball: parseBallKey(location) };
  }
  const slash = key.lastIndexOf('/');
  if (slash > 0 && (PROBE_SETS as readonly string[]).includes(key.slice(slash + 1))) return { family: key.slice(0, slash), location: key.slice(slash + 1), ball: null };
  if (key.startsWith('margin')) return { family: 'margin', location: key, ball: null };
  return { family: key, location: '', ball: null };
}

/** Summary column of one attack at one ε: "robust:<robust key>". */
export function robustColumnKey(attack: string, norm: string, eps: number): string {
  return `robust:${robustKey(attack, norm, eps)}`;
}

/** Summary column of the worst case at one ε: "worst@<norm>:<eps>". */
export function worstColumnKey(norm: string, eps: number): string {
  return `worst@${ballKey(norm, eps)}`;
}

/** Summary column of a probe distribution: "probe:<probe key>". */
export function probeColumnKey(probe: string): string {
  return `probe:${probe}`;
}

/** The probe key of a probe column, else null. */
export function parseProbeColumnKey(column: string): string | null {
  return column.startsWith('probe:') ? column.slice('probe:'.length) : null;
}
