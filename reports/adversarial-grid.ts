/**
 * Data for the HTML report's grid of clean and adversarial examples (image
 * groups whose eval jobs kept them, eval.saveAdversarial): per scheme, the
 * first seed with a kept file, the first few examples side by side with their
 * label and the model's predictions. One epsilon per group: the one where the
 * baseline's worst case is nearest half its clean accuracy, where the
 * examples say most. Per example the adversarial image shown is the first
 * attack (in the study's order) that fools the model there, else the last
 * attack's, which the model survived.
 */
import * as fs from 'fs';
import { ballKey, parseRobustKey } from '../contract/keys';
import { adversarialFile, LoadedRun } from '../contract/run-folder';
import { AdversarialExamples, readAdversarialExamples } from '../eval/adversarial-examples';
import { encodePng, pngDataUri, toBytes } from './png';
import { GroupSummary, RunSummary } from './summary';

/** Examples shown per scheme. */
export const GRID_EXAMPLES = 6;

export interface GridCell {
  /** Test-set row. */
  index: number;
  label: number;
  cleanPred: number;
  /** data: URI of the clean image. */
  clean: string;
  adversarial: string;
  advPred: number;
  /** The attack whose example is shown. */
  attack: string;
  /** The attack changed a correct prediction. */
  fooled: boolean;
}

export interface GridRow {
  scheme: string;
  /** Seed of the model shown; null when no seed kept examples. */
  seed: number | null;
  cells: GridCell[];
  /** Why a scheme has no examples (none kept, unreadable file). */
  error?: string;
}

export interface AdversarialGrid {
  group: string;
  norm: string;
  eps: number;
  rows: GridRow[];
}

/** Height, width and channels of an image input shape; null for anything else. */
export function imageShape(shape: readonly number[]): { h: number; w: number; c: 1 | 3 } | null {
  if (shape.length === 2) return { h: shape[0], w: shape[1], c: 1 };
  if (shape.length === 3 && (shape[2] === 1 || shape[2] === 3)) return { h: shape[0], w: shape[1], c: shape[2] as 1 | 3 };
  return null;
}

function imageUri(x: Float32Array, i: number, set: AdversarialExamples, img: { h: number; w: number; c: 1 | 3 }): string {
  const d = img.h * img.w * img.c;
  return pngDataUri(encodePng(toBytes(x.subarray(i * d, (i + 1) * d), set.bounds.lo, set.bounds.hi), img.w, img.h, img.c));
}

/** The eps of the worst-case columns where the baseline (else the first) row is nearest half its clean accuracy. */
export function gridEps(g: GroupSummary, available: { norm: string; eps: number }[]): { norm: string; eps: number } | null {
  if (!available.length) return null;
  const row = g.rows.find((r) => r.scheme === g.baseline) ?? g.rows[0];
  const clean = row?.cells.clean?.stat?.mean;
  let best: { norm: string; eps: number; gap: number } | null = null;
  for (const a of available) {
    const col = g.columns.find((c) => c.kind === 'worst' && c.norm === a.norm && c.eps === a.eps);
    const worst = col ? row?.cells[col.key]?.stat?.mean : undefined;
    const gap = clean !== undefined && worst !== undefined ? Math.abs(worst - clean / 2) : Infinity;
    if (!best || gap < best.gap) best = { ...a, gap };
  }
  // No statistics to go by: the middle eps.
  if (best && best.gap === Infinity) return available[Math.floor((available.length - 1) / 2)];
  return best && { norm: best.norm, eps: best.eps };
}

function rowCells(set: AdversarialExamples, norm: string, eps: number, img: { h: number; w: number; c: 1 | 3 }): GridCell[] {
  const keys = Object.keys(set.adversarial).filter((k) => {
    const p = parseRobustKey(k);
    return p !== null && p.norm === norm && p.eps === eps;
  });
  if (!keys.length) return [];
  const cells: GridCell[] = [];
  for (let i = 0; i < Math.min(GRID_EXAMPLES, set.index.length); i++) {
    const label = set.label[i];
    const cleanRight = set.cleanPred[i] === label;
    const key = keys.find((k) => cleanRight && set.pred[k][i] !== label) ?? keys[keys.length - 1];
    cells.push({
      index: set.index[i],
      label,
      cleanPred: set.cleanPred[i],
      clean: imageUri(set.clean, i, set, img),
      adversarial: imageUri(set.adversarial[key], i, set, img),
      advPred: set.pred[key][i],
      attack: (parseRobustKey(key) as { attack: string }).attack,
      fooled: cleanRight && set.pred[key][i] !== label,
    });
  }
  return cells;
}

/** The grid of every group with image inputs and at least one kept adversarial-examples file. */
export function adversarialGrids(run: LoadedRun, s: RunSummary): AdversarialGrid[] {
  const grids: AdversarialGrid[] = [];
  for (const g of s.groups) {
    const sets = g.rows.map((row) => {
      for (const sj of row.seeds) {
        if (!sj.evalJobId || sj.evalStatus !== 'ok') continue;
        const file = adversarialFile(run.dir, sj.evalJobId);
        if (!fs.existsSync(file)) continue;
        try {
          return { row, seed: sj.seed, set: readAdversarialExamples(file) };
        } catch (e) {
          return { row, seed: sj.seed, error: (e as Error).message.split('\n')[0] };
        }
      }
      return { row, seed: null, error: 'no adversarial examples kept (eval.saveAdversarial)' };
    });
    const first = sets.find((x) => x.set)?.set;
    const img = first ? imageShape(first.inputShape) : null;
    if (!first || !img) continue;
    const available = [
      ...new Map(
        Object.keys(first.adversarial).flatMap((k) => {
          const p = parseRobustKey(k);
          return p ? [[ballKey(p.norm, p.eps), { norm: p.norm, eps: p.eps }] as const] : [];
        }),
      ).values(),
    ].sort((a, b) => a.eps - b.eps);
    const at = gridEps(g, available);
    if (!at) continue;
    grids.push({
      group: g.group,
      norm: at.norm,
      eps: at.eps,
      rows: sets.map((x) => (x.set ? { scheme: x.row.scheme, seed: x.seed, cells: rowCells(x.set, at.norm, at.eps, img) } : { scheme: x.row.scheme, seed: x.seed, cells: [], error: x.error })),
    });
  }
  return grids;
}
