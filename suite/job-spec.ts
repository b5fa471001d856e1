/**
 * Job specs: the fully resolved settings a job's id hashes, as a typed union
 * (train | eval). plan.ts builds them; train-job.ts and eval-job.ts read them;
 * the compiler checks both sides.
 */
import type { AttackSpec } from '../attacks/registry';
import type { JobSpecBase, PlannedJob } from '../contract/results';
import type { DatasetSpec } from '../data/registry';
import type { EvalConfig, EvalSettings } from '../eval/config';
import type { ModelSpec } from '../models/build';
import type { TrainConfig } from '../models/train';

interface SpecCommon extends JobSpecBase {
  format: number;
  backend: string;
  dataset: DatasetSpec;
  scheme: { name: string; params: Record<string, unknown> };
}

export interface TrainSpec extends SpecCommon {
  model: ModelSpec;
  train: TrainConfig;
}

export interface EvalSpec extends SpecCommon {
  trainJobId: string;
  /** The evaluation's settings, defaulted (eval/config.ts: one type with EvalConfig's). */
  eval: EvalSettings;
  attacks: EvalConfig['attacks'];
  probes: boolean;
  transfer: { source: string; attack: AttackSpec; sourceTrainJobIds: string[] } | null;
}

export interface TrainJob extends PlannedJob<TrainSpec> {
  kind: 'train';
}

export interface EvalJob extends PlannedJob<EvalSpec> {
  kind: 'eval';
  trainJobId: string;
}

export type Job = TrainJob | EvalJob;
