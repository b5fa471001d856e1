/**
 * Job specs: the fully resolved settings a job's id hashes, as a typed union
 * (train | eval). plan.ts builds them; train-job.ts and eval-job.ts read them;
 * the compiler checks both sides.
 */
import type { JobSpecBase, PlannedJob } from '../contract/results';
import type { DatasetSpec } from '../data/registry';
import type { EvalConfig, EvalSettings, TransferSpec } from '../eval/config';
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

/**
 * An eval job's spec. Its settings are EvalSettings, the type of
 * EvalConfig's settings, defaulted once (withEvalDefaults, when the study is
 * loaded); evalConfigOfSpec (below) is the one function that turns a spec into
 * the EvalConfig the evaluation runs. The spec is not EvalConfig itself
 * because its serialized shape is what the job id hashes (test/golden/plan-*.json
 * pin the ids), and three fields differ from EvalConfig's for a reason:
 * - `eval` nests the settings (EvalConfig has them at its top level);
 * - `probes` is only on/off: probe options (ProbeConfig) are not study settings;
 * - `transfer` is one attack or null, and names the source model by the train
 *   jobs it needs (`sourceTrainJobIds`, which the planner orders after); EvalConfig
 *   takes a list of transfer attacks whose models come in EvalOptions.sources.
 * EvalConfig's `sanity` options are not study settings either: an eval job
 * runs the checks at their defaults.
 */
export interface EvalSpec extends SpecCommon {
  /** The train job whose model is attacked; null for an imported model (`model`). */
  trainJobId: string | null;
  /** An imported model (a study's `{ onnx: FILE }` entry, with the file's SHA-256): evaluated without a train job. */
  model?: OnnxModelEntry;
  /** The evaluation's settings, defaulted (eval/config.ts: one type with EvalConfig's). */
  eval: EvalSettings;
  attacks: EvalConfig['attacks'];
  probes: boolean;
  transfer: (TransferSpec & { sourceTrainJobIds: string[] }) | null;
}

/** The EvalConfig an eval job runs: its spec's settings whole, its attacks, probes on or off, and its transfer attack when it has a source model. */
export function evalConfigOfSpec(spec: EvalSpec): EvalConfig {
  return {
    ...spec.eval,
    attacks: spec.attacks,
    probes: spec.probes,
    // The source scheme's own job has no source model: no transfer attack.
    transfer: spec.transfer && spec.transfer.sourceTrainJobIds.length > 0 ? [{ source: spec.transfer.source, attack: spec.transfer.attack }] : [],
  };
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
