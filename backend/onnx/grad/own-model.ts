/**
 * vicinal's own Layers models through the graph differentiator: the
 * compiler's forward graph (x and the weights as inputs, TF.js layout) is
 * differentiated with respect to x (attacks) or the weights (training). Used
 * by the test that checks it against the hand-written backward and by the
 * side-by-side benchmark; the engine itself still runs the hand-written
 * backward (see docs/engine.md, the ONNX graph differentiator, for the measured speeds).
 */
import type { CompiledModel, Mode } from '../compile';
import { parseModel } from '../graph';
import { DifferentiatedModel, differentiate } from './differentiate';

/** The combined forward + backward graph of a compiled model; `baked` weights become initializers (attack mode's steady state). */
export function differentiateCompiled(compiled: CompiledModel, mode: Mode, baked?: Float32Array[]): DifferentiatedModel {
  const g = compiled.forward();
  if (baked) compiled.weights.forEach((w, i) => (g.consumes(w.name) ? g.bake(w.name, baked[i], w.shape) : undefined));
  const fixedInputs = baked ? {} : Object.fromEntries(compiled.weights.map((w) => [w.name, w.shape]));
  const wrt = mode === 'input' ? ['x'] : compiled.weights.map((w) => w.name);
  return differentiate(parseModel(g.encode()), { wrt, seed: 'cotangent', output: 'logits', inputShapes: { x: compiled.inputShape }, fixedInputs });
}
