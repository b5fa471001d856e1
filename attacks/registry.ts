import { Classifier } from '../contract/classifier';
import { UsageError } from '../contract/errors';
import { Norm, validateNorm } from '../contract/norms';
import { apgdCeDescriptor, apgdDlrDescriptor } from './apgd';
import { apgdTDescriptor } from './apgd-t';
import { autoattackDescriptor } from './autoattack';
import { fabTDescriptor } from './fab-t';
import { fgmDescriptor } from './fgm';
import { fgsmDescriptor } from './fgsm';
import { noiseDescriptor } from './noise';
import { pgdDescriptor } from './pgd';
import { squareDescriptor } from './square';
import { TransferAttack } from './transfer';
import { Attack, ATTACK_FAMILIES, AttackDescriptor, AttackFamily, ParamRule } from './types';

export { ATTACK_FAMILIES };
export type { AttackFamily };

/** An attack as configured by a user: a registry name and parameters (missing ones take the defaults of its descriptor). */
export interface AttackSpec {
  name: string;
  params?: Record<string, unknown>;
}

/** An attack with its parameters resolved (resolveAttackParams): what `buildAttack` builds and results record. */
export interface ResolvedAttack {
  name: string;
  norm: Norm;
  params: Record<string, unknown>;
}

/**
 * Every attack, one descriptor each (attacks/types.ts AttackDescriptor: its
 * defaults, parameter rules, cost, loss and logit-scale facts, stated in the
 * attack's own file). Adding an attack: its file plus one line here.
 */
export const ATTACK_DESCRIPTORS: readonly AttackDescriptor[] = [
  fgsmDescriptor,
  fgmDescriptor,
  pgdDescriptor,
  apgdCeDescriptor,
  apgdDlrDescriptor,
  apgdTDescriptor,
  fabTDescriptor,
  squareDescriptor,
  autoattackDescriptor,
  noiseDescriptor,
];

export type AttackName = string;
/** Every registry name, in registry order. */
export const ATTACK_NAMES: readonly AttackName[] = ATTACK_DESCRIPTORS.map((d) => d.name);
/** Accepted spellings of registry names. */
export const ATTACK_ALIASES: Record<string, AttackName> = { apgd: 'apgd-ce' };
const BY_NAME = new Map(ATTACK_DESCRIPTORS.map((d) => [d.name, d]));
const namesOf = (family: AttackFamily): readonly AttackName[] => ATTACK_DESCRIPTORS.filter((d) => d.family === family).map((d) => d.name);
/** Attacks that take one gradient step (compared against iterative ones by the sanity checks). */
export const SINGLE_STEP_ATTACKS: readonly string[] = namesOf('single-step');
/** White-box iterative attacks. */
export const ITERATIVE_ATTACKS: readonly string[] = namesOf('iterative');

/** The descriptor of a registry attack (aliases accepted); UsageError for an unknown name. */
export function attackDescriptor(name: string): AttackDescriptor {
  return BY_NAME.get(resolveAttackName(name)) as AttackDescriptor;
}

/** The family of a registry attack (aliases accepted). */
export function attackFamily(name: string): AttackFamily {
  return attackDescriptor(name).family;
}

/** Whether an attack needs the model's input gradients (every family but score-based and baseline). */
export function needsGradients(name: string): boolean {
  const family = attackFamily(name);
  return family !== 'score-based' && family !== 'baseline';
}

/** The parameters an attack accepts besides `norm` (for help texts and tests). */
export function attackParamNames(name: string): string[] {
  return Object.keys(attackDescriptor(name).params);
}

/** Resolves a user-given name (aliases accepted) or throws a UsageError listing the allowed names. */
export function resolveAttackName(name: string): AttackName {
  const n = ATTACK_ALIASES[name] ?? name;
  if (!BY_NAME.has(n)) {
    throw new UsageError(`unknown attack "${name}"; allowed: ${ATTACK_NAMES.join(', ')}`);
  }
  return n;
}

/** Every epsilon must be a finite number >= 0; the list must not be empty. */
export function validateEpsList(eps: unknown, field = 'eps'): number[] {
  if (!Array.isArray(eps) || eps.length === 0) throw new UsageError(`${field} must be a non-empty list of numbers >= 0, got ${JSON.stringify(eps)}`);
  for (const e of eps) {
    if (typeof e !== 'number' || !Number.isFinite(e) || e < 0) {
      throw new UsageError(`invalid ${field} value ${JSON.stringify(e)}: every eps must be a finite number >= 0`);
    }
  }
  return eps as number[];
}

/** The norms an attack supports (first: its default). */
export function attackNorms(name: string): readonly Norm[] {
  return attackDescriptor(name).norms;
}

/**
 * Resolved parameters of an attack at a norm: the user's values, validated,
 * over the defaults. Throws UsageError naming the attack, the field, the
 * value and what is allowed.
 */
export function resolveAttackParams(spec: AttackSpec, norm: Norm): ResolvedAttack {
  const entry = attackDescriptor(spec.name);
  const name = entry.name;
  const given = { ...(spec.params ?? {}) };
  let attackNorm = norm;
  if ('norm' in given) {
    attackNorm = validateNorm(given.norm, `attack "${name}" param norm`);
    delete given.norm;
  }
  if (!entry.norms.includes(attackNorm)) {
    // A single-norm attack points to its twin of the same family at the other norm (fgsm <-> fgm).
    const twin = entry.norms.length === 1 ? ATTACK_DESCRIPTORS.find((d) => d !== entry && d.family === entry.family && d.norms.includes(attackNorm)) : undefined;
    const other = twin ? ` (use "${twin.name}" for ${attackNorm})` : '';
    throw new UsageError(`attack "${name}" supports norm ${entry.norms.join(', ')} only, got "${attackNorm}"${other}`);
  }
  const allowed = Object.keys(entry.params);
  for (const [k, v] of Object.entries(given)) {
    const rule = entry.params[k];
    if (!rule) {
      throw new UsageError(`attack "${name}": unknown param "${k}"; allowed: ${allowed.length ? ['norm', ...allowed].join(', ') : 'norm'}`);
    }
    checkParam(name, k, v, rule);
  }
  return { name, norm: attackNorm, params: { ...entry.defaults(attackNorm, given), ...given } };
}

function checkParam(attack: string, field: string, v: unknown, r: ParamRule): void {
  const bad = (allowed: string) => new UsageError(`attack "${attack}": invalid param ${field} = ${JSON.stringify(v)}; allowed: ${allowed}`);
  if (r.kind === 'boolean') {
    if (typeof v !== 'boolean') throw bad('true or false');
    return;
  }
  if (r.kind === 'enum') {
    if (typeof v !== 'string' || !(r.values ?? []).includes(v)) throw bad((r.values ?? []).join(', '));
    return;
  }
  const range = [r.kind === 'int' ? 'an integer' : 'a number', r.min !== undefined ? `>= ${r.min}` : r.above !== undefined ? `> ${r.above}` : '', r.max !== undefined ? `<= ${r.max}` : '']
    .filter((s) => s)
    .join(' ');
  if (typeof v !== 'number' || !Number.isFinite(v)) throw bad(range);
  if (r.kind === 'int' && !Number.isInteger(v)) throw bad(range);
  if (r.min !== undefined && v < r.min) throw bad(range);
  if (r.above !== undefined && !(v > r.above)) throw bad(range);
  if (r.max !== undefined && v > r.max) throw bad(range);
}

/**
 * Builds an attack from a spec. `norm` is the evaluation's threat model;
 * `params.norm` overrides it. The defaults (published protocols) are the
 * descriptors' (docs/attacks.md lists them in the table attackTableMarkdown
 * renders).
 */
export function createAttack(spec: AttackSpec, norm: Norm = 'linf'): Attack {
  return buildAttack(resolveAttackParams(spec, norm));
}

/** Builds an attack whose parameters are already resolved (resolveAttackParams), without resolving them again. */
export function buildAttack(r: ResolvedAttack): Attack {
  return attackDescriptor(r.name).make(r.norm, r.params);
}

/** A transfer attack: examples crafted on `source` with the attack `spec`, evaluated on the attacked model. */
export function createTransferAttack(sourceName: string, source: Classifier, spec: AttackSpec, norm: Norm = 'linf'): Attack {
  return buildTransferAttack(sourceName, source, resolveAttackParams(spec, norm));
}

/** A transfer attack whose attack is already resolved. */
export function buildTransferAttack(sourceName: string, source: Classifier, r: ResolvedAttack): Attack {
  return new TransferAttack(sourceName, source, buildAttack(r));
}

/** The defaults of an attack at a norm (for help texts and documentation). */
export function attackDefaults(name: string, norm?: Norm): Record<string, unknown> {
  const entry = attackDescriptor(name);
  return entry.defaults(norm ?? entry.norms[0], {});
}

/** Passes per example of a resolved attack at one eps (see AttackCost); `survivors` as in AttackDescriptor.cost. */
export function attackCostOf(r: ResolvedAttack, classes: number, survivors?: number) {
  return attackDescriptor(r.name).cost(r.params, classes, survivors);
}

/** How a default parameter value reads in the attack table. */
function showValue(v: unknown): string {
  return typeof v === 'number' && !Number.isInteger(v) ? String(Number(v.toPrecision(4))) : String(v);
}

/**
 * The attack table of docs/attacks.md, rendered from the descriptors (a
 * test checks that the doc holds exactly this table): name, summary,
 * family, norms, defaults (at the first norm), cost at the defaults for 10
 * classes, loss, and the logit-scale facts.
 */
export function attackTableMarkdown(classes = 10): string {
  const rows = ATTACK_DESCRIPTORS.map((d) => {
    const norm = d.norms[0];
    const p = resolveAttackParams({ name: d.name }, norm).params;
    const defaults = Object.entries(p)
      .map(([k, v]) => `${k} ${showValue(v)}`)
      .join(', ');
    const c = d.cost(p, classes);
    const cost = [c.gradient ? `${c.gradient} gradient` : '', c.forward ? `${c.forward} forward` : ''].filter((x) => x).join(' + ');
    const params = Object.keys(d.params).join(', ');
    return `| ${d.name} | ${d.summary} | ${d.family} | ${d.norms.join(', ')} | ${params} | ${defaults || '-'} | ${cost} | ${d.loss(p) ?? '-'} | ${d.scaleInvariant(p) ? 'yes' : 'no'} | ${d.argmaxOnly ? 'yes' : 'no'} |`;
  });
  return [
    '| attack | what | family | norms | params | defaults | passes per example (10 classes) | loss | scale-invariant | argmax-only |',
    '| --- | --- | --- | --- | --- | --- | --- | --- | --- | --- |',
    ...rows,
  ].join('\n');
}
