/**
 * JSON report: the comparison model itself plus its findings (`findings`,
 * one entry per group, from findings.ts); non-finite numbers become null.
 */
import { runFindings } from './findings';
import { FlagRecord, RunSummary } from './summary';

/**
 * A flag as the JSON summary has always written it. Its norm and ε fields
 * (what findings.ts scopes a flag by) stay out: the run's result files hold
 * them, and the summary's format is unchanged by their arrival.
 */
function flagJson(f: FlagRecord) {
  return { check: f.check, severity: f.severity, message: f.message, group: f.group, scheme: f.scheme, seed: f.seed, jobId: f.jobId };
}

export function renderJson(s: RunSummary): string {
  const out = { ...s, groups: s.groups.map((g) => ({ ...g, flags: g.flags.map(flagJson) })), flags: s.flags.map(flagJson), findings: runFindings(s) };
  return `${JSON.stringify(out, (_k, v: unknown) => (typeof v === 'number' && !Number.isFinite(v) ? null : v), 1)}\n`;
}
