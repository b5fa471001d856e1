/**
 * Data for the two-dimensional figures of the HTML report (computed here,
 * drawn by html.ts):
 *  - decision boundaries: every scheme's saved models (one per seed that
 *    trained ok) evaluated on a grid over the data, for any group whose
 *    inputs are 2-D (moons, circles);
 *  - for two-moons groups, the seed note's vicinal-sample figures drawn with
 *    the schemes' own `vicinity` (models/schemes): mixup-asym with alpha 0.1
 *    around one training point of the run's data; mixup-semi (alpha 0.1) with
 *    2 labelled + 10,000 unlabelled points; with more labelled points
 *    (50 per class + 10,000 unlabelled); with all 10,002 points labelled
 *    (mixup-asym).
 * Imports TensorFlow.js: the report loads this module only when a group has 2-D inputs.
 */
import * as tf from '@tensorflow/tfjs';
import { datasetSpecFromSettings, loadDataset, DatasetSpec } from '../data/registry';
import { Rng } from '../data/rng';
import { Dataset } from '../data/types';
import { loadModel } from '../models/io';
import { asClassifier, predictLogits } from '../models/predict';
import { createScheme, schemeDefaults } from '../models/schemes';
import { silenceTfjsAdvert } from '../backend/quiet';
import type { MixupSemiScheme } from '../models/schemes/mixup-semi';
import { LoadedRun, modelDir } from '../contract/run-folder';
import { GroupSummary, RunSummary, is2DGroup } from './summary';
import { Grid } from './svg';

export interface Boundary {
  scheme: string;
  /** Seeds whose model was evaluated. */
  seeds: number[];
  /** Mean over seeds of P(class 1) on the grid. */
  mean: Grid;
  /** P(class 1) per seed (for the 0.5 contour of each seed). */
  perSeed: Grid[];
  /** Why a scheme has no boundary (no ok seed, model missing, load error). */
  error?: string;
}

export interface VicinityPanel {
  title: string;
  scheme: string;
  params: Record<string, unknown>;
  /** Labelled training points (x, y, class). */
  labelled: [number, number, number][];
  /** Unlabelled pool points (display subsample). */
  unlabelled: [number, number][];
  /** Pool size before subsampling. */
  unlabelledTotal: number;
  point: [number, number, number];
  samples: [number, number][];
  /** Mixing weights of the samples (when the scheme reports them). */
  lambdas: number[];
  error?: string;
}

export interface Figures2D {
  group: string;
  extent: { x: [number, number]; y: [number, number] };
  /** Training data shown under the boundaries (x, y, class). */
  data: [number, number, number][];
  boundaries: Boundary[];
  /** Present for two-moons groups. */
  vicinity: VicinityPanel[] | null;
}

export const GRID_SIZE = 60;
export const VICINAL_SAMPLES = 400;
const MAX_POOL_SHOWN = 1500;
const MAX_DATA_SHOWN = 600;

function datasetSpecOf(g: GroupSummary): DatasetSpec {
  const d = g.dataset;
  const recorded = datasetSpecFromSettings(d);
  if (recorded) return recorded;
  const spec: DatasetSpec = { name: String(d.name ?? g.group.split('/')[0]) };
  for (const k of ['seed', 'nTrain', 'nTest', 'noise', 'factor'] as const) if (typeof d[k] === 'number') spec[k] = d[k] as number;
  return spec;
}

function extentOf(ds: Dataset): { x: [number, number]; y: [number, number] } {
  let x0 = Infinity;
  let x1 = -Infinity;
  let y0 = Infinity;
  let y1 = -Infinity;
  for (let i = 0; i < ds.train.n; i++) {
    x0 = Math.min(x0, ds.train.x[2 * i]);
    x1 = Math.max(x1, ds.train.x[2 * i]);
    y0 = Math.min(y0, ds.train.x[2 * i + 1]);
    y1 = Math.max(y1, ds.train.x[2 * i + 1]);
  }
  const px = (x1 - x0) * 0.12;
  const py = (y1 - y0) * 0.12;
  return { x: [x0 - px, x1 + px], y: [y0 - py, y1 + py] };
}

function gridPoints(extent: Figures2D['extent'], n: number): { xs: number[]; ys: number[]; flat: Float32Array } {
  const xs = Array.from({ length: n }, (_, i) => extent.x[0] + ((i + 0.5) * (extent.x[1] - extent.x[0])) / n);
  const ys = Array.from({ length: n }, (_, j) => extent.y[0] + ((j + 0.5) * (extent.y[1] - extent.y[0])) / n);
  const flat = new Float32Array(n * n * 2);
  for (let j = 0; j < n; j++) {
    for (let i = 0; i < n; i++) {
      flat[2 * (j * n + i)] = xs[i];
      flat[2 * (j * n + i) + 1] = ys[j];
    }
  }
  return { xs, ys, flat };
}

/** Evenly spaced subsample of rows (deterministic). */
function every<T>(arr: T[], max: number): T[] {
  if (arr.length <= max) return arr;
  const step = arr.length / max;
  return Array.from({ length: max }, (_, i) => arr[Math.floor(i * step)]);
}

async function boundaries(run: LoadedRun, g: GroupSummary, extent: Figures2D['extent']): Promise<Boundary[]> {
  const grid = gridPoints(extent, GRID_SIZE);
  const out: Boundary[] = [];
  for (const row of g.rows) {
    const perSeed: Grid[] = [];
    const seeds: number[] = [];
    const errors: string[] = [];
    for (const sj of row.seeds) {
      if (sj.trainStatus !== 'ok' || !sj.trainJobId) continue;
      try {
        const { model } = await loadModel(modelDir(run.dir, sj.trainJobId));
        try {
          const logits = predictLogits(asClassifier(model), grid.flat, [2]);
          const k = logits.length / (GRID_SIZE * GRID_SIZE);
          const p = new Array<number>(GRID_SIZE * GRID_SIZE);
          for (let i = 0; i < p.length; i++) {
            // softmax probability of class 1 (two classes)
            const l0 = logits[i * k];
            const l1 = logits[i * k + 1];
            p[i] = 1 / (1 + Math.exp(l0 - l1));
          }
          perSeed.push({ xs: grid.xs, ys: grid.ys, values: p });
          seeds.push(sj.seed);
        } finally {
          model.dispose();
        }
      } catch (e) {
        errors.push(`seed ${sj.seed}: ${(e as Error).message.split('\n')[0]}`);
      }
    }
    const mean = new Array<number>(GRID_SIZE * GRID_SIZE).fill(0);
    for (const s of perSeed) for (let i = 0; i < mean.length; i++) mean[i] += (s.values[i] as number) / perSeed.length;
    const error = perSeed.length === 0 ? (errors.length ? errors.join('; ') : `no trained model (${row.status})`) : errors.length ? errors.join('; ') : undefined;
    out.push({ scheme: row.scheme, seeds, mean: { xs: grid.xs, ys: grid.ys, values: mean }, perSeed, ...(error ? { error } : {}) });
  }
  return out;
}

/** The schemes whose configured α the vicinity panels take, in order of preference. */
const PANEL_ALPHA_FROM = ['mixup-asym', 'mixup-semi', 'mixup'] as const;

/**
 * The α the vicinity panels draw with: that of the first model of the group
 * trained with mixup-asym (else mixup-semi, else mixup), as its result
 * records it; mixup-asym's default when the group trained none of them.
 */
export function panelAlpha(run: LoadedRun, g: GroupSummary): number {
  const trained = g.rows.flatMap((row) => row.seeds.map((sj) => (sj.trainJobId ? run.results.get(sj.trainJobId) : undefined)));
  for (const name of PANEL_ALPHA_FROM) {
    for (const r of trained) {
      const alpha = r?.kind === 'train' && r.identity.scheme.name === name ? r.identity.scheme.settings.alpha : undefined;
      if (typeof alpha === 'number') return alpha;
    }
  }
  return schemeDefaults('mixup-asym', 'moons').alpha as number;
}

/** The four panels of the seed note, at the run's α. */
export function vicinityPanelSpecs(base: DatasetSpec, alpha: number): { title: string; scheme: string; params: Record<string, unknown>; dataset: DatasetSpec }[] {
  const big = (perClass: number): DatasetSpec => ({ ...base, name: 'moons', nTrain: 10_000 + 2 * perClass });
  return [
    { title: `mixup-asym, α=${alpha}: vicinal samples around one training point`, scheme: 'mixup-asym', params: { alpha }, dataset: base },
    { title: `semi-supervised: 2 labelled + 10,000 unlabelled points (mixup-semi, α=${alpha})`, scheme: 'mixup-semi', params: { alpha, labelledPerClass: 1 }, dataset: big(1) },
    { title: `more labelled: 100 labelled + 10,000 unlabelled points (mixup-semi, α=${alpha})`, scheme: 'mixup-semi', params: { alpha, labelledPerClass: 50 }, dataset: big(50) },
    { title: `all labelled: 10,002 labelled points (mixup-asym, α=${alpha})`, scheme: 'mixup-asym', params: { alpha }, dataset: big(1) },
  ];
}

async function vicinityPanels(base: DatasetSpec, alpha: number): Promise<VicinityPanel[]> {
  const panels: VicinityPanel[] = [];
  for (const spec of vicinityPanelSpecs(base, alpha)) {
    const empty: VicinityPanel = { title: spec.title, scheme: spec.scheme, params: spec.params, labelled: [], unlabelled: [], unlabelledTotal: 0, point: [NaN, NaN, 0], samples: [], lambdas: [] };
    try {
      const ds = loadDataset(spec.dataset);
      const rng = new Rng(spec.dataset.seed ?? 0);
      const scheme = createScheme(spec.scheme, spec.params, ds, rng.fork('scheme'));
      const set = scheme.trainingSet;
      // The first class-0 row of the scheme's training set.
      let point = 0;
      while (point < set.n - 1 && set.y[point] !== 0) point++;
      const v = scheme.vicinity(point, VICINAL_SAMPLES, rng.fork('vicinity'));
      let xs: Float32Array;
      try {
        xs = (await v.x.data()) as Float32Array;
      } finally {
        tf.dispose([v.x, v.targets]);
      }
      const labelled: [number, number, number][] = [];
      for (let i = 0; i < set.n; i++) labelled.push([set.x[2 * i], set.x[2 * i + 1], set.y[i]]);
      const pool: [number, number][] = [];
      const unl = (scheme as Partial<MixupSemiScheme>).pool;
      if (unl) for (let i = 0; i < unl.n; i++) pool.push([unl.x[2 * i], unl.x[2 * i + 1]]);
      const samples: [number, number][] = [];
      for (let i = 0; i < xs.length / 2; i++) samples.push([xs[2 * i], xs[2 * i + 1]]);
      panels.push({
        ...empty,
        labelled: every(labelled, MAX_POOL_SHOWN),
        unlabelled: every(pool, MAX_POOL_SHOWN),
        unlabelledTotal: pool.length,
        point: [set.x[2 * point], set.x[2 * point + 1], set.y[point]],
        samples,
        lambdas: v.info?.lambda ? Array.from(v.info.lambda) : [],
      });
    } catch (e) {
      panels.push({ ...empty, error: (e as Error).message.split('\n')[0] });
    }
  }
  return panels;
}

/** Computes the 2-D figures of every 2-D group of the run (empty when there is none). */
export async function computeFigures2D(run: LoadedRun, summary: RunSummary): Promise<Figures2D[]> {
  const groups = summary.groups.filter(is2DGroup);
  if (groups.length === 0) return [];
  // The report has no backend of its own: tensors run on tfjs's default (cpu), which must not advertise.
  silenceTfjsAdvert();
  const out: Figures2D[] = [];
  for (const g of groups) {
    const spec = datasetSpecOf(g);
    let ds: Dataset;
    try {
      ds = loadDataset(spec);
    } catch {
      // The data cannot be rebuilt here (e.g. a files dataset whose files moved): no figures for this group.
      continue;
    }
    const extent = extentOf(ds);
    const data: [number, number, number][] = [];
    for (let i = 0; i < ds.train.n; i++) data.push([ds.train.x[2 * i], ds.train.x[2 * i + 1], ds.train.y[i]]);
    out.push({
      group: g.group,
      extent,
      data: every(data, MAX_DATA_SHOWN),
      boundaries: await boundaries(run, g, extent),
      vicinity: spec.name === 'moons' ? await vicinityPanels(spec, panelAlpha(run, g)) : null,
    });
  }
  return out;
}
