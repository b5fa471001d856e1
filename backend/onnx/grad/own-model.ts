/**
 * vicinal's own Layers models through the graph differentiator: the
 * compiler's forward graph (x and the weights as inputs, TF.js layout) is
 * differentiated with respect to x (attacks: BatchNorm on its moving
 * statistics) or the trainable weights (training: BatchNorm on the batch's
 * statistics, which the save graph also returns). This is what the onnx
 * engine runs.
 */
import type { CompiledModel, Mode } from '../compile';
import { parseModel } from '../graph';
import { DifferentiatedModel, differentiate } from './differentiate';

/** The combined forward + backward graph of a compiled model; `baked` weights become initializers (attack mode's steady state). */
export function differentiateCompiled(compiled: CompiledModel, mode: Mode, baked?: Float32Array[]): DifferentiatedModel {
  const g = compiled.forward(mode === 'train' ? 'batch' : 'inference');
  if (baked) compiled.weights.forEach((w, i) => (g.consumes(w.name) ? g.bake(w.name, baked[i], w.shape) : undefined));
  const fixedInputs = baked ? {} : Object.fromEntries(compiled.weights.map((w) => [w.name, w.shape]));
  const wrt = mode === 'input' ? ['x'] : compiled.weights.filter((w) => w.trainable).map((w) => w.name);
  const saveOutputs = mode === 'train' ? compiled.bnStats.flatMap((s) => [s.mean, s.variance]) : [];
  return differentiate(parseModel(g.encode()), { wrt, seed: 'cotangent', output: 'logits', inputShapes: { x: compiled.inputShape }, fixedInputs, saveOutputs });
}
