/**
 * The contract between the runner (suite/), the evaluation (attacks/) and the
 * reports (reports/): what one job's result file holds. Every result carries
 * its complete settings and the environment that produced it.
 */
import type { Norm } from './norms';

/** Compute backends a study can ask for (`auto` walks the ladder tfjs-node-gpu, onnx engine, tfjs-node, wasm, cpu). */
export const BACKEND_CHOICES = ['auto', 'tensorflow', 'onnx', 'wasm', 'cpu'] as const;
export type BackendChoice = (typeof BACKEND_CHOICES)[number];

/** What actually computes: recorded in every result and report. */
export interface BackendInfo {
  requested: BackendChoice;
  /** tfjs backend name: "tensorflow" | "wasm" | "cpu". */
  name: string;
  /** npm package that provides it. */
  package: string;
  /** True when the TensorFlow binding reports a GPU device. */
  gpu: boolean;
  tfjsVersion: string;
  /** Kernels vicinal registered to replace missing or wrong ones. */
  patchedKernels: string[];
}

export interface Environment {
  backend: BackendInfo;
  node: string;
  platform: string;
  cpus: string;
  cores: number;
  vicinalVersion: string;
  gitCommit: string | null;
}

/** Identity of a trained model: what was trained on what, how. */
export interface ModelIdentity {
  dataset: Record<string, number | string>;
  model: Record<string, unknown>;
  scheme: { name: string; settings: Record<string, unknown> };
  train: Record<string, unknown>;
  seed: number;
}

export type JobStatus = 'ok' | 'diverged' | 'failed';

export interface TrainJobResult {
  kind: 'train';
  jobId: string;
  identity: ModelIdentity;
  status: JobStatus;
  /** Set when status != ok: the one-line reason (e.g. "training diverged in epoch 3: mean loss is NaN"). */
  error?: string;
  /** Per-epoch records; present also for diverged runs, up to the last finite epoch. */
  history: { epoch: number; loss: number; trainAccuracy: number; testAccuracy: number; seconds: number }[];
  /** Clean test accuracy of the final model; null unless status == ok. */
  cleanAccuracy: number | null;
  wallSeconds: number;
  env: Environment;
}

/** One attack at one epsilon, summarised over the evaluated test examples. */
export interface AttackSummary {
  /** e.g. "fgsm", "pgd", "apgd-ce", "noise", "transfer:<source scheme>". */
  attack: string;
  norm: Norm;
  eps: number;
  /** Every setting of the attack (steps, step size, restarts, random start, source model...). */
  settings: Record<string, unknown>;
  n: number;
  /** Share of examples still classified correctly after the attack. */
  robustAccuracy: number;
  meanLoss: number;
}

/** Quantiles of a per-example quantity. */
export interface Distribution {
  n: number;
  mean: number;
  q05: number;
  q25: number;
  median: number;
  q75: number;
  q95: number;
}

export interface SanityFlag {
  /** e.g. "non-monotone", "gradient-masking", "large-eps-not-zero", "zero-gradients", "noise-stronger", "batch-dependence", "steps-not-converged". */
  check: string;
  /** "error" fails the job; "warning" is reported. */
  severity: 'error' | 'warning';
  message: string;
  /**
   * The threat model the flag is about, set by every check that compares
   * results at one norm and ε (the same double as the results' keys, so
   * reports/findings.ts matches it exactly). Absent for checks about the model
   * as a whole, and in results written before flags carried it (a flag
   * without ε qualifies every ε).
   */
  norm?: Norm;
  eps?: number;
}

export interface EvalJobResult {
  kind: 'eval';
  jobId: string;
  /** null: an imported model (a study's .onnx entry), evaluated without a train job. */
  trainJobId: string | null;
  identity: ModelIdentity;
  status: JobStatus;
  error?: string;
  cleanAccuracy: number;
  /** Test examples evaluated (the first n of the test set). */
  n: number;
  attacks: AttackSummary[];
  /** Per epsilon (and norm): accuracy when an example must survive every attack in `attacks`. */
  worstCase: { norm: Norm; eps: number; robustAccuracy: number; attacks: string[] }[];
  /** Gradient-norm probes: name (e.g. "grad-l1/train", "grad-l2/test", "grad-l1/vicinal", "local-lipschitz", "margin") -> distribution. */
  probes: Record<string, Distribution>;
  flags: SanityFlag[];
  /** Per-example correctness on the clean test set (1/0), used for McNemar tests. */
  cleanCorrect: number[];
  /** Per attack key "attack@norm:eps" -> per-example robust correctness (1/0). */
  robustCorrect: Record<string, number[]>;
  wallSeconds: number;
  /** Wall seconds per stage: clean, each attack key, probes, sanity (where an eval job's time goes). */
  stageSeconds?: Record<string, number>;
  /**
   * On the onnx engine: per stage (as stageSeconds) the example rows that went through the network,
   * `gradient` (a backward to the input, or one step-graph call) and `forward` (logits only): the
   * job's cost in network passes, which does not depend on the machine's load.
   */
  stagePasses?: Record<string, { gradient: number; forward: number }>;
  /** Per sanity check that runs attacks: what it re-ran and what it reused from the evaluation's own attack runs. Absent in results written before it existed. */
  sanityRuns?: SanityRunRecord[];
  env: Environment;
}

/**
 * What one sanity check computed (EvalJobResult.sanityRuns): the attack runs
 * it made and the per-example outcomes it took from the evaluation's own
 * attack runs instead. Entries name an attack ("pgd") or a stage of a
 * composite ("autoattack:apgd-t"), with " (k of n rows)" when only some rows
 * of the sanity subset ran.
 */
export interface SanityRunRecord {
  /** The check, as its flags name it ("logit-scale-dependence", "ce-saturation", "batch-dependence", "large-eps-not-zero", "steps-not-converged"). */
  check: string;
  /** Where it looked, e.g. "linf eps 0.1, logits x100". */
  at: string;
  reran: string[];
  reused: string[];
}

export type JobResult = TrainJobResult | EvalJobResult;

/**
 * A job spec as readers of a run folder (reports, merges) see it: the fields
 * they may use, each optional because a result folder may come from another
 * version or a hand-made fixture. The runner's typed union of train and eval
 * specs (suite/job-spec.ts) narrows it, with every field required.
 */
export interface JobSpecBase {
  /** Result format version (bumped when results change meaning). */
  format?: number;
  /** Backend name the job was planned for. */
  backend?: string;
  dataset?: object;
  model?: object;
  scheme?: { name: string; params: Record<string, unknown> };
  train?: object;
  /** Eval jobs: the model attacked. */
  trainJobId?: string | null;
  seed: number;
}

/** One job of a study, as planned. Its id is a hash of everything that determines its result. */
export interface PlannedJob<S extends JobSpecBase = JobSpecBase> {
  id: string;
  kind: 'train' | 'eval';
  /** Human-readable label, e.g. "mnist/mlp/mixup(alpha=1)/seed0". */
  label: string;
  /** Experiment (dataset + model) group name, e.g. "mnist/mlp". */
  group: string;
  /** Display name of the scheme including swept parameters, e.g. "mixup(alpha=0.2)". */
  schemeLabel: string;
  seed: number;
  /** For eval jobs: the train job whose model is attacked. */
  trainJobId?: string;
  /** Train jobs this job needs finished first (its own model, transfer sources). */
  dependsOn: string[];
  /** The fully resolved settings of this job (what the id hashes). */
  spec: S;
}

/** manifest.json of a run folder. */
export interface RunManifest {
  vicinal: string;
  /** The study config as given (resolved: defaults filled in). */
  config: Record<string, unknown>;
  /** Profile or config file name. */
  source: string;
  jobs: PlannedJob[];
  env: Environment;
  startedAt: string;
  /** Set when every job has a result. */
  endedAt: string | null;
  wallSeconds: number | null;
  workers: number;
  /** Peak resident memory of the run's process (all worker threads), MB. */
  peakRssMB?: number;
}
