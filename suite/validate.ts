import { resolveAttackParams } from '../attacks/registry';
import { loadDataset } from '../data/registry';
import { Rng } from '../data/rng';
import { compileModel, LayersModelLike, UnsupportedModelError } from '../backend/onnx/compile';
import { buildModel, ModelSpec } from '../models/build';
import { RESNET_DEFAULTS, resnetDepthProblem } from '../models/resnet';
import { createScheme } from '../models/schemes';
import { importedInput, isOnnxModel, OnnxModelEntry, StudyConfig } from './config';
import { importedClassifier, loadOnnxFile, OnnxFileModel } from '../backend/onnx/file-model';
import { needsGradients } from '../attacks/registry';
import type { Dataset } from '../data/types';
import { UsageError } from '../contract/errors';
import { expandSchemes, modelLabel } from './plan';

/**
 * Checks what the schema cannot: scheme and attack names and their
 * parameters, before anything is written. Schemes are built once on a small
 * stand-in of each dataset (at most 1,000 training points), which runs their
 * own validation; attacks go through the registry's.
 */
/**
 * The onnx engine runs a fixed layer family (backend/onnx/compile.ts); a
 * model outside it (BatchNorm, residual additions: the ResNets) is refused
 * here, before anything is written, rather than failing every job.
 */
function refuseOutsideEngine(m: ModelSpec, inputShape: number[], numClasses: number, i: number): void {
  const model = buildModel(m, inputShape, numClasses, 0);
  try {
    compileModel(model as unknown as LayersModelLike);
  } catch (e) {
    if (!(e instanceof UnsupportedModelError)) throw e;
    throw new UsageError(`experiments[${i}]: model ${modelLabel(m)} cannot run on the onnx engine (${e.message}); use --backend wasm, cpu, tfjs-node or tfjs-node-gpu`);
  } finally {
    model.dispose();
  }
}

/**
 * An imported model loads, takes the dataset's inputs and classes, and (when
 * an attack or the probes need them) has input gradients: a UsageError naming
 * the field otherwise, before anything is written.
 */
function checkImportedModel(m: OnnxModelEntry, stand: Dataset, field: string, gradients: boolean): void {
  let file: OnnxFileModel;
  try {
    file = loadOnnxFile(m.onnx);
  } catch (e) {
    throw new UsageError(`${field}.onnx: ${(e as Error).message}`);
  }
  try {
    importedClassifier(file, stand.inputShape, stand.numClasses, stand.name, importedInput(m), gradients);
  } catch (e) {
    if (e instanceof UsageError) throw new UsageError(`${field}: ${e.message}`);
    throw e;
  } finally {
    file.dispose();
  }
}

/** Architectures that take [h, w, c] images. */
const IMAGE_ARCHS: readonly string[] = ['cnn', 'resnet', 'preact-resnet'];

export function validateStudyNames(study: StudyConfig, backendName?: string): void {
  const schemes = expandSchemes(study.schemes);
  for (const [i, ex] of study.experiments.entries()) {
    const stand = loadDataset({ ...ex.dataset, nTrain: Math.min(ex.dataset.nTrain ?? 1000, 1000), nTest: Math.min(ex.dataset.nTest ?? 100, 100) });
    for (const s of schemes) createScheme(s.name, s.params, stand, new Rng(0));
    for (const a of ex.attacks ?? study.attacks) resolveAttackParams(a, ex.eval.norm);
    if (study.transfer.enabled) {
      resolveAttackParams({ name: study.transfer.attack }, ex.eval.norm);
      if (!schemes.some((s) => s.label === study.transfer.source || s.name === study.transfer.source)) {
        throw new UsageError(`transfer.source "${study.transfer.source}" is not a scheme of this study; allowed: ${schemes.map((s) => s.label).join(', ')}`);
      }
    }
    for (const [j, m] of ex.models.entries()) {
      if (isOnnxModel(m)) {
        checkImportedModel(m, stand, `experiments[${i}].models[${j}]`, (ex.attacks ?? study.attacks).some((a) => needsGradients(a.name)) || study.probes);
        continue;
      }
      if (IMAGE_ARCHS.includes(m.arch) && stand.inputShape.length !== 3) {
        throw new UsageError(`experiments[${i}]: model arch "${m.arch}" needs image inputs; dataset "${ex.dataset.name}" has shape [${stand.inputShape.join(', ')}]`);
      }
      if (m.arch === 'resnet' || m.arch === 'preact-resnet') {
        const problem = resnetDepthProblem(m.arch, m.depth ?? RESNET_DEFAULTS[m.arch].depth);
        if (problem) throw new UsageError(`experiments[${i}]: ${problem}`);
      }
      if (backendName === 'onnx') refuseOutsideEngine(m, stand.inputShape, stand.numClasses, i);
    }
  }
}
