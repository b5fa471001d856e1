import { Environment } from '../contract/results';
import { DatasetSpec, loadDataset } from '../data/registry';
import { Dataset } from '../data/types';

/** What a job runs with: the run folder, the model cache, the environment, progress and this worker's datasets. */
export interface JobContext {
  runDir: string;
  /** Shared cache of trained models keyed by train job id (null: no cache). */
  cacheDir: string | null;
  env: Environment;
  /** Reports progress of the running job: a short text and a fraction in [0, 1]. */
  progress: (text: string, fraction: number) => void;
  /** Datasets already built in this worker, by their spec. */
  datasets: Map<string, Dataset>;
}

/** The dataset of a spec, built once per worker. */
export function datasetFor(ctx: JobContext, spec: DatasetSpec): Dataset {
  const key = JSON.stringify(spec);
  let d = ctx.datasets.get(key);
  if (!d) {
    d = loadDataset(spec);
    ctx.datasets.set(key, d);
  }
  return d;
}
