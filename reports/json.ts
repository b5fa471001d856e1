/**
 * JSON report: the comparison model itself plus its findings (`findings`,
 * one entry per group, from findings.ts); non-finite numbers become null.
 */
import { runFindings } from './findings';
import { RunSummary } from './summary';

export function renderJson(s: RunSummary): string {
  return `${JSON.stringify({ ...s, findings: runFindings(s) }, (_k, v: unknown) => (typeof v === 'number' && !Number.isFinite(v) ? null : v), 1)}\n`;
}
