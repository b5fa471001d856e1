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
import type { OnnxModelEntry } from './config';

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
  /** The train job whose model is attacked; null for an imported model (`model`). */
  trainJobId: string | null;
  /** An imported model (a study's `{ onnx: FILE }` entry, with the file's SHA-256): evaluated without a train job. */
  model?: OnnxModelEntry;
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
  /** Absent for an imported model's evaluation. */
  trainJobId?: string;
}

export type Job = TrainJob | EvalJob;
