/**
 * The datasets, selected by name: one line per dataset in DATASETS below,
 * each descriptor in its own file under data/datasets/. Adding a dataset
 * means its file plus one line here; the config schema (suite/config.ts),
 * the CLI choices and the table in docs/datasets.md derive from this list.
 */
import { UsageError } from '../contract/errors';
import { NORMS, type Norm } from '../contract/norms';
import { cifar100Dataset, cifar10Dataset } from './datasets/cifar';
import { circlesDataset } from './datasets/circles';
import { fashionMnistDataset } from './datasets/fashion-mnist';
import { fashionMnist32Dataset } from './datasets/fashion-mnist-32';
import { filesDataset } from './datasets/files';
import { mnistDataset } from './datasets/mnist';
import { moonsDataset } from './datasets/moons';
import { assertSpec, DatasetDescriptor, DatasetSpec, numberParam, paramHelp, SpecProblem, specProblem } from './descriptor';
import { Rng } from './rng';
import { Dataset } from './types';

export type { DatasetDescriptor, DatasetSpec, FileRef, SpecProblem } from './descriptor';

/** The registry, in display order. */
export const DATASETS: readonly DatasetDescriptor[] = [moonsDataset, circlesDataset, mnistDataset, fashionMnistDataset, fashionMnist32Dataset, cifar10Dataset, cifar100Dataset, filesDataset];

const BY_NAME = new Map(DATASETS.map((d) => [d.name, d]));

export const DATASET_NAMES = DATASETS.map((d) => d.name) as unknown as readonly [string, ...string[]];

/** The keys each dataset's spec accepts, `name` first. */
export const DATASET_SPEC_KEYS: Readonly<Record<string, readonly string[]>> = Object.fromEntries(DATASETS.map((d) => [d.name, ['name', ...Object.keys(d.params)]]));

export function isDatasetName(name: unknown): name is string {
  return typeof name === 'string' && BY_NAME.has(name);
}

/** The descriptor of a dataset, or a UsageError listing the allowed names. */
export function datasetDescriptor(name: string): DatasetDescriptor {
  const d = BY_NAME.get(name);
  if (!d) throw new UsageError(`unknown dataset "${name}"; allowed: ${DATASET_NAMES.join(', ')}`);
  return d;
}

/** The first problem of a spec (key and message), or null; the config schema reports it at that key. */
export function datasetSpecProblem(spec: Readonly<Record<string, unknown>>): SpecProblem | null {
  if (!isDatasetName(spec.name)) return { key: 'name', message: `unknown dataset; allowed: ${DATASET_NAMES.join(', ')}` };
  return specProblem(datasetDescriptor(spec.name), spec);
}

/**
 * The spec a study's planner hashes: as given, plus what identifies the data
 * beyond their settings (files: `contentHash`, the SHA-256 of the files).
 * Never adds defaults, so shipped profiles keep their job ids.
 */
export function resolveDatasetSpec(spec: DatasetSpec): DatasetSpec {
  const d = datasetDescriptor(spec.name);
  assertSpec(spec, d);
  return d.resolve ? d.resolve(spec) : spec;
}

/**
 * Builds a dataset deterministically from its spec: the same spec gives the
 * same arrays bit for bit. Bad specs and bad files are one-line UsageErrors.
 */
export function loadDataset(spec: DatasetSpec): Dataset {
  const d = datasetDescriptor(spec.name);
  assertSpec(spec, d);
  return d.load(spec, new Rng(numberParam(d.params, spec, 'seed')));
}

/** Default attack radii of a dataset for a norm (`vicinal attack` without --eps). */
export function defaultAttackEps(dataset: Dataset, norm: Norm): number[] {
  return datasetDescriptor(dataset.name).defaultEps(norm, dataset.bounds);
}

/**
 * The default radii of every dataset as help text, from the descriptors:
 * "mnist linf 0.1,0.2,0.3 / l2 0.5,1,2; ...", datasets with the same radii
 * named together; a dataset whose bounds come from its data shows the radii
 * on [0, 1] "times the bounds' range".
 */
export function defaultEpsHelp(): string {
  const text = new Map<string, string[]>();
  for (const d of DATASETS) {
    const bounds = d.shape.bounds ?? { lo: 0, hi: 1 };
    const radii = NORMS.map((n) => `${n} ${d.defaultEps(n, bounds).join(',')}`).join(' / ') + (d.shape.bounds ? '' : " times the bounds' range");
    text.set(radii, [...(text.get(radii) ?? []), d.name]);
  }
  return [...text].map(([radii, names]) => `${names.join(', ')} ${radii}`).join('; ');
}

/**
 * Whether a dataset, given its recorded settings (Dataset.settings, a
 * result's identity.dataset, a report group's dataset), holds 2-D points
 * whose decision boundaries can be drawn: moons, circles, and files datasets
 * with inputs of shape [2].
 */
export function isPointsDataset(settings: Readonly<Record<string, unknown>>): boolean {
  return isDatasetName(settings.name) && datasetDescriptor(settings.name).isPoints2d(settings);
}

/** The spec that rebuilds a dataset from its recorded settings (a saved model's metadata), or null for an unknown name. */
export function datasetSpecFromSettings(settings: Readonly<Record<string, unknown>>): DatasetSpec | null {
  return isDatasetName(settings.name) ? datasetDescriptor(settings.name).specFromSettings(settings) : null;
}

/** Every dataset's parameters as help text (from the descriptors' tables): a heading per dataset, a line per parameter. */
export function datasetParamsHelp(): string {
  return DATASETS.map((d) => [`  ${d.name}: ${d.summary}`, ...paramHelp(d).map((l) => `    ${l}`)].join('\n')).join('\n');
}
