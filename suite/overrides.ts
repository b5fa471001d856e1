/**
 * `vicinal run STUDY --set path=value`: changes to a study before it is
 * validated, e.g. `--set seeds=[0]`, `--set experiments[1].eval.nExamples=100`,
 * `--set schemes[0].params.alpha=0.4`.
 *
 * - The path is dot-separated field names with [i] indices. Every step must
 *   exist in the study's JSON Schema (suite/study-schema.ts): a field of a
 *   closed object, an index of a list that exists in the study (so a list
 *   never gets holes), or any key of an open map (scheme params, dataset keys).
 *   Objects missing on the way (an omitted `train`) are created.
 * - The value is JSON (`[0,1]`, `0.4`, `true`, `"text"`, `{"alpha": 1}`); a
 *   bare word that is not JSON (`cnn`, `linf`, `my-study`) is taken as that
 *   string, so names need no quotes. Anything else that is not JSON
 *   (`[0,1`, `0.1,0.2`) is refused rather than guessed.
 * - The changed study goes through the same validation as the file, so a
 *   wrong type or range is the usual one-line error.
 * Settings apply in order; a later --set of the same path wins.
 */
import { UsageError } from '../contract/errors';
import type { PlannedJob } from '../contract/results';
import { StudyConfig, readStudyFile, validateStudy } from './config';
import { studyJsonSchema } from './study-schema';

export type PathSegment = string | number;

export interface Override {
  /** The item as given, "path=value". */
  item: string;
  path: PathSegment[];
  value: unknown;
}

const KEY = /^([A-Za-z_][\w-]*)((?:\[\d+\])*)$/;

/** "experiments[1].eval.nExamples" -> ["experiments", 1, "eval", "nExamples"]. */
export function parsePath(text: string, item: string): PathSegment[] {
  const out: PathSegment[] = [];
  for (const part of text.split('.')) {
    const m = KEY.exec(part);
    if (!m) throw new UsageError(`--set ${item}: "${text}" is not a field path; allowed: names joined by dots with [i] indices, e.g. experiments[1].eval.nExamples`);
    out.push(m[1]);
    for (const idx of m[2].matchAll(/\[(\d+)\]/g)) out.push(Number(idx[1]));
  }
  return out;
}

/** JSON, or a bare word (letters, digits, - _ . /, starting with a letter) as a string. */
export function parseValue(text: string, item: string): unknown {
  try {
    return JSON.parse(text);
  } catch {
    if (/^[A-Za-z][\w./-]*$/.test(text) && !['true', 'false', 'null'].includes(text)) return text;
    throw new UsageError(`--set ${item}: the value ${JSON.stringify(text)} is not JSON; allowed: JSON (e.g. [0,1], 0.4, true, "a b") or a bare word`);
  }
}

/** Parses one "path=value" item. */
export function parseOverride(item: string): Override {
  const eq = item.indexOf('=');
  if (eq < 1) throw new UsageError(`--set expects path=value, got "${item}"; e.g. --set seeds=[0] or --set experiments[0].eval.nExamples=100`);
  return { item, path: parsePath(item.slice(0, eq).trim(), item), value: parseValue(item.slice(eq + 1).trim(), item) };
}

/** "experiments[1].eval" */
export function formatPath(p: PathSegment[]): string {
  return p.map((s, i) => (typeof s === 'number' ? `[${s}]` : i === 0 ? s : `.${s}`)).join('') || '(top level)';
}

type Schema = {
  type?: string | string[];
  properties?: Record<string, Schema>;
  additionalProperties?: boolean | Schema;
  items?: Schema | Schema[];
  anyOf?: Schema[];
};

/**
 * Walks the JSON Schema and the study along `path`: throws a UsageError when a
 * step does not exist (naming what is allowed there) or an index is past the
 * end of its list in the study.
 */
export function checkPath(root: Schema, study: unknown, path: PathSegment[], item: string): void {
  let schema: Schema | null = root;
  let value: unknown = study;
  for (let i = 0; i < path.length; i++) {
    const seg = path[i];
    const here = formatPath(path.slice(0, i));
    if (schema === null) {
      // Inside an open map (params, dataset keys): any key, and lists of what the study holds.
      value = value !== null && typeof value === 'object' ? (value as Record<PathSegment, unknown>)[seg] : undefined;
      continue;
    }
    const types = [schema.type ?? []].flat();
    if (typeof seg === 'number') {
      if (!types.includes('array') || schema.items === undefined) throw new UsageError(`--set ${item}: ${here} is not a list, so [${seg}] does not apply`);
      const length = Array.isArray(value) ? value.length : 0;
      if (seg >= length) {
        throw new UsageError(`--set ${item}: ${here} has ${length} entr${length === 1 ? 'y' : 'ies'} in this study; allowed: ${length ? `[0] to [${length - 1}]` : 'set the whole list'}`);
      }
      schema = Array.isArray(schema.items) ? (schema.items[seg] ?? null) : schema.items;
      value = (value as unknown[])[seg];
      continue;
    }
    if (!types.includes('object')) throw new UsageError(`--set ${item}: ${here} is not an object, so it has no field "${seg}"`);
    const known: Schema | undefined = schema.properties?.[seg];
    if (known) schema = known;
    else if (schema.additionalProperties === false || schema.additionalProperties === undefined) {
      throw new UsageError(`--set ${item}: unknown path: ${i === 0 ? 'a study' : here} has no field "${seg}"; allowed: ${Object.keys(schema.properties ?? {}).join(', ')}`);
    } else {
      const extra: true | Schema = schema.additionalProperties;
      schema = extra === true || Object.keys(extra).length === 0 ? null : extra;
    }
    value = value !== null && typeof value === 'object' ? (value as Record<string, unknown>)[seg] : undefined;
  }
}

/** A copy of `study` with `value` at `path`; objects missing on the way are created. */
export function setAt(study: unknown, path: PathSegment[], value: unknown): unknown {
  if (path.length === 0) return value;
  const [head, ...rest] = path;
  const base: Record<PathSegment, unknown> | unknown[] = Array.isArray(study) ? [...study] : study !== null && typeof study === 'object' ? { ...(study as object) } : {};
  (base as Record<PathSegment, unknown>)[head] = setAt((base as Record<PathSegment, unknown>)[head], rest, value);
  return base;
}

/** Applies the items in order to a parsed study (checked against the JSON Schema path by path). */
export function applyOverrides(raw: unknown, items: string[]): unknown {
  const schema = studyJsonSchema() as Schema;
  let study = raw;
  for (const item of items) {
    const o = parseOverride(item);
    checkPath(schema, study, o.path, item);
    study = setAt(study, o.path, o.value);
  }
  return study;
}

/**
 * Loads a study with --set items applied; `base` is the study without them
 * (null without items), for --dry-run's list of changed jobs.
 */
export function loadStudyWithOverrides(nameOrFile: string, items: string[]): { config: StudyConfig; source: string; base: StudyConfig | null } {
  const { raw, source } = readStudyFile(nameOrFile);
  if (!items.length) return { config: validateStudy(raw, source), source, base: null };
  const label = `${source} with --set ${items.join(' --set ')}`;
  const config = validateStudy(applyOverrides(raw, items), label);
  // The study before the changes only serves --dry-run's list of changed jobs; a --set may be what
  // makes the study runnable here (a stand-in for data this machine lacks), so it need not validate.
  let base: StudyConfig | null = null;
  try {
    base = validateStudy(raw, source);
  } catch (e) {
    if (!(e instanceof UsageError)) throw e;
  }
  return { config, source: label, base };
}

/**
 * What --set changed in the plan, by job label: the jobs whose id changed
 * and the jobs only in the new plan, each listed; the jobs only in the old
 * plan (e.g. fewer seeds) are counted, they do not run.
 */
export function planChanges(before: PlannedJob[], after: PlannedJob[]): string[] {
  const old = new Map(before.map((j) => [j.label, j]));
  const now = new Set(after.map((j) => j.label));
  const changed = after.filter((j) => old.has(j.label) && old.get(j.label)?.id !== j.id);
  const added = after.filter((j) => !old.has(j.label));
  const removed = before.filter((j) => !now.has(j.label));
  const lines = [`--set changes ${changed.length} job id(s), adds ${added.length} job(s), removes ${removed.length} (of ${before.length} planned without it):`];
  for (const j of changed) lines.push(`  ${old.get(j.label)?.id} -> ${j.id}  ${j.kind.padEnd(5)}  ${j.label}`);
  for (const j of added) lines.push(`  new ${j.id}  ${j.kind.padEnd(5)}  ${j.label}`);
  return lines;
}
