import { UsageError } from './errors';

/** Threat models: the norm of the perturbation ball. */
export const NORMS = ['linf', 'l2'] as const;
export type Norm = (typeof NORMS)[number];

export function validateNorm(norm: unknown, field = 'norm'): Norm {
  if (typeof norm !== 'string' || !(NORMS as readonly string[]).includes(norm)) {
    throw new UsageError(`invalid ${field} ${JSON.stringify(norm)}; allowed: ${NORMS.join(', ')}`);
  }
  return norm as Norm;
}
