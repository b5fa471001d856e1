/** JSON report: the comparison model itself (non-finite numbers become null). */
import { RunSummary } from './summary';

export function renderJson(s: RunSummary): string {
  return JSON.stringify(s, (_k, v: unknown) => (typeof v === 'number' && !Number.isFinite(v) ? null : v), 1) + '\n';
}
