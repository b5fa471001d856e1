/**
 * The key grammar of results: one place builds and parses the keys under
 * which an eval result stores per-example outcomes and probe distributions.
 *
 *   robust outcome    "<attack>@<norm>:<eps>"        e.g. "pgd@linf:0.1", "transfer:erm@linf:0.3"
 *   worst case        "worst-case@<norm>:<eps>"
 *   probe at a ball   "<probe>@<norm>:<eps>"         e.g. "local-lipschitz@linf:0.3"
 *
 * The attack name may itself contain ':' or '@'; the norm and eps never do.
 */
import type { Norm } from './norms';

export const WORST_CASE = 'worst-case';

/** "attack@norm:eps": the key of one attack at one epsilon. */
export function robustKey(attack: string, norm: string, eps: number): string {
  return `${attack}@${norm}:${eps}`;
}

/** "worst-case@norm:eps": per-example survival of every attack at that epsilon. */
export function worstCaseKey(norm: Norm, eps: number): string {
  return robustKey(WORST_CASE, norm, eps);
}

/** "attack@norm" without the epsilon: groups one attack's results across epsilons. */
export function attackNormKey(attack: string, norm: string): string {
  return `${attack}@${norm}`;
}

/** "norm:eps": where a ball probe was taken (the part after '@' of a probe key). */
export function ballKey(norm: string, eps: number): string {
  return `${norm}:${eps}`;
}

/** Parses "attack@norm:eps"; null when the key does not follow the grammar. */
export function parseRobustKey(key: string): { attack: string; norm: string; eps: number } | null {
  const m = /^(.*)@([a-z0-9]+):([^:@]+)$/.exec(key);
  if (!m) return null;
  const eps = Number(m[3]);
  if (!Number.isFinite(eps)) return null;
  return { attack: m[1], norm: m[2], eps };
}
