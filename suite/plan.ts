import { ExperimentConfig, isOnnxModel, OnnxModelEntry, StudyConfig, SchemeEntry } from './config';
import { hashId } from './hash';
import { EvalJob, EvalSpec, Job, TrainSpec } from './job-spec';

/**
 * Bumped whenever a change alters what a job computes, so stale cached results are not reused.
 * 2: the wasm Sign kernel is exact (format 1 left points with |grad| < 1e-7 unattacked, and
 * adversarial training used the same sign) and PGD's default step is 2.5 eps / steps.
 */
export const RESULT_FORMAT = 2;

export interface ExpandedScheme {
  name: string;
  params: Record<string, unknown>;
  /** e.g. "mixup(alpha=0.2)"; just the name when nothing was swept or set. */
  label: string;
}

/** Expands sweeps: each combination of swept values becomes one scheme entry. */
export function expandSchemes(entries: SchemeEntry[]): ExpandedScheme[] {
  const out: ExpandedScheme[] = [];
  for (const e of entries) {
    let combos: Record<string, unknown>[] = [{}];
    for (const [k, values] of Object.entries(e.sweep ?? {})) {
      combos = combos.flatMap((c) => values.map((v) => ({ ...c, [k]: v })));
    }
    for (const c of combos) {
      const p = { ...e.params, ...c };
      const shown = Object.entries(p).map(([k, v]) => `${k}=${v}`);
      out.push({ name: e.name, params: p, label: shown.length ? `${e.name}(${shown.join(',')})` : e.name });
    }
  }
  const seen = new Set<string>();
  for (const s of out) {
    if (seen.has(s.label)) throw new Error(`scheme "${s.label}" appears twice in the study`);
    seen.add(s.label);
  }
  return out;
}

export function modelLabel(m: { arch: string; hidden?: number[]; filters?: number[]; depth?: number; width?: number }): string {
  if (m.arch === 'mlp' && m.hidden) return `mlp-${m.hidden.join('x')}`;
  if (m.arch === 'cnn' && m.filters) return `cnn-${m.filters.join('x')}`;
  if (m.arch === 'resnet' || m.arch === 'preact-resnet') return `${m.arch}${m.depth ?? ''}${m.width !== undefined ? `-w${m.width}` : ''}`;
  return m.arch;
}

/**
 * Turns a validated study into jobs: one train job per dataset x model x
 * scheme (after sweeps) x seed, and one eval job per trained model carrying
 * every attack x epsilon and the probes. Ids hash the resolved settings and
 * the backend, so the same study on the same backend gives the same ids.
 */
export function planStudy(study: StudyConfig, backendName: string): Job[] {
  const schemes = expandSchemes(study.schemes);
  const groups = trainedGroupLabels(study);
  const jobs: Job[] = [];
  study.experiments.forEach((ex, ei) => {
    ex.models.forEach((model, mi) => {
      if (isOnnxModel(model)) {
        jobs.push(...importedModelJobs(study, ex, model, backendName));
        return;
      }
      const group = groups.get(`${ei}.${mi}`) as string;
      const trainIds = new Map<string, string>();
      for (const seed of study.seeds) {
        for (const s of schemes) {
          const spec: TrainSpec = {
            format: RESULT_FORMAT,
            backend: backendName,
            dataset: ex.dataset,
            model,
            scheme: { name: s.name, params: s.params },
            train: ex.train,
            seed,
          };
          const id = hashId({ kind: 'train', ...spec });
          trainIds.set(`${s.label}|${seed}`, id);
          jobs.push({ id, kind: 'train', label: `${group}/${s.label}/seed${seed}`, group, schemeLabel: s.label, seed, dependsOn: [], spec });
        }
      }
      for (const seed of study.seeds) {
        for (const s of schemes) {
          const trainJobId = trainIds.get(`${s.label}|${seed}`) as string;
          const sources: string[] = [];
          if (study.transfer.enabled && s.name !== study.transfer.source) {
            const src = schemes.find((x) => x.label === study.transfer.source || x.name === study.transfer.source);
            if (!src) throw new Error(`transfer.source "${study.transfer.source}" is not a scheme of this study`);
            sources.push(trainIds.get(`${src.label}|${seed}`) as string);
          }
          const spec: EvalSpec = {
            format: RESULT_FORMAT,
            backend: backendName,
            trainJobId,
            dataset: ex.dataset,
            scheme: { name: s.name, params: s.params },
            // saveAdversarial 0 keeps nothing: the same job as leaving it out.
            eval: ex.eval.saveAdversarial ? ex.eval : withoutSaveAdversarial(ex.eval),
            attacks: ex.attacks ?? study.attacks,
            probes: study.probes,
            transfer: study.transfer.enabled
              ? {
                  source: study.transfer.source,
                  // The transfer attack runs with the same settings as the experiment's own entry of that attack.
                  attack: (ex.attacks ?? study.attacks).find((a) => a.name === study.transfer.attack) ?? { name: study.transfer.attack, params: {} },
                  sourceTrainJobIds: sources,
                }
              : null,
            seed,
          };
          jobs.push({
            id: hashId({ kind: 'eval', ...spec }),
            kind: 'eval',
            label: `${group}/${s.label}/seed${seed}/eval`,
            group,
            schemeLabel: s.label,
            seed,
            trainJobId,
            dependsOn: [trainJobId, ...sources],
            spec,
          });
        }
      }
    });
  });
  return jobs;
}

/**
 * The report group of each trained model, keyed "experiment.model" (indices):
 * "dataset/model", and where two entries would share that (the same dataset
 * and architecture at other sizes or recipes) "dataset/model#k" with k the
 * 1-based experiment number, so a report never merges two of them into one
 * table ("#k.m" when they share an experiment too).
 */
function trainedGroupLabels(study: StudyConfig): Map<string, string> {
  const base = new Map<string, string>();
  study.experiments.forEach((ex, ei) =>
    ex.models.forEach((model, mi) => {
      if (!isOnnxModel(model)) base.set(`${ei}.${mi}`, `${ex.dataset.name}/${modelLabel(model)}`);
    }),
  );
  const count = (label: string) => [...base.values()].filter((l) => l === label).length;
  const out = new Map<string, string>();
  for (const [key, label] of base) {
    const [ei, mi] = key.split('.').map(Number);
    if (count(label) === 1) out.set(key, label);
    else {
      const sameExperiment = [...base].filter(([k, l]) => l === label && k.startsWith(`${ei}.`)).length > 1;
      out.set(key, `${label}#${ei + 1}${sameExperiment ? `.${mi + 1}` : ''}`);
    }
  }
  return out;
}

/** The group of a study's imported models on a dataset: their rows sit side by side in one report table. */
export const importedGroup = (datasetName: string) => `${datasetName}/onnx`;

/**
 * An imported model's jobs: one eval job per seed (the attacks' seed), no
 * train job. The id hashes the file's SHA-256, so a changed file is a new job.
 * The probes' vicinal points are erm's (the training points themselves): the
 * model's own training scheme is not known.
 */
function importedModelJobs(study: StudyConfig, ex: ExperimentConfig, model: OnnxModelEntry, backendName: string): EvalJob[] {
  const group = importedGroup(ex.dataset.name);
  const label = `onnx:${model.onnx}`;
  return study.seeds.map((seed) => {
    const spec: EvalSpec = {
      format: RESULT_FORMAT,
      backend: backendName,
      trainJobId: null,
      model,
      dataset: ex.dataset,
      scheme: { name: 'erm', params: {} },
      eval: ex.eval.saveAdversarial ? ex.eval : withoutSaveAdversarial(ex.eval),
      attacks: ex.attacks ?? study.attacks,
      probes: study.probes,
      transfer: null,
      seed,
    };
    return { id: hashId({ kind: 'eval', ...spec }), kind: 'eval', label: `${group}/${label}/seed${seed}/eval`, group, schemeLabel: label, seed, dependsOn: [], spec };
  });
}

function withoutSaveAdversarial(e: ExperimentConfig['eval']): EvalSpec['eval'] {
  const { saveAdversarial: _, ...rest } = e;
  return rest;
}
