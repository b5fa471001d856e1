/**
 * One attack iteration as one ONNX graph: the network's forward, the
 * attacker's loss, its input gradient (the graph differentiator's backward),
 * the steepest-ascent step (linf: sign; l2: the gradient over its row norm),
 * the projection onto the eps-ball around x0 and the clip into the bounds.
 * An attack then makes one engine call per iteration with its data in JS
 * typed arrays, instead of a tfjs tape, a forward and a backward op and a
 * dozen tfjs step ops.
 *
 * The step mirrors attacks/types.ts (steepestDirection, project) op for op,
 * with the same float32 constants, so a step from the same gradient gives the
 * same bits; the gradient itself differs from the tfjs-tape path only by
 * float rounding (the loss's d/dlogits is computed here as
 * dir * (softmax(z) * sum(t) - t)).
 *
 * Losses: "ce", the cross-entropy of the one-hot rows `t`, times `dir` (+1
 * untargeted: ascend the label's loss; -1 targeted: descend the target's).
 *
 * Graph inputs: x and x0 [n, ...inputShape], t [n, classes], step [n, 1, ...]
 * (per-example step size), dir, eps, lo, hi (float32 scalars). Outputs:
 * x_next (shaped like x), loss [n] (the objective at x, dir included) and
 * logits [n, classes] at x. The weights are baked in (one session per weight
 * version, kept with the model's sessions).
 */
import { onnx } from 'onnx-proto';
import type { Norm } from '../../contract/norms';
import { OnnxModel } from './engine';
import { encodeModel, FLOAT, IrNode, parseModel } from './graph';
import { differentiateCompiled } from './grad/own-model';
import { OrtData } from './runtime';

/** The losses a step graph can ascend. */
export type StepLoss = 'ce';

export interface StepSpec {
  norm: Norm;
  loss: StepLoss;
}

/** One iteration's inputs; arrays are row-major float32 of the shapes in the module comment. */
export interface StepInputs {
  x: Float32Array;
  x0: Float32Array;
  /** one-hot rows [n, classes] */
  t: Float32Array;
  /** per-example step size [n] */
  step: Float32Array;
  dir: 1 | -1;
  eps: number;
  lo: number;
  hi: number;
}

export interface StepOutputs {
  xNext: Float32Array;
  loss: Float32Array;
  logits: Float32Array;
}

let enabled = true;

/** Lets tests and benchmarks run the tfjs path on the engine for comparison (default: the step graph is used where it applies). */
export function setStepGraphEnabled(on: boolean): void {
  enabled = on;
}

export function stepGraphEnabled(): boolean {
  return enabled;
}

/** Builds the step graph's ModelProto for `m`'s current weights (weightFeeds() gives them). */
export function buildStepGraph(m: OnnxModel, spec: StepSpec): Uint8Array {
  const feeds = m.weightFeeds();
  const baked = m.compiled.weights.map((w) => feeds[w.name][0] as Float32Array);
  const d = differentiateCompiled(m.compiled, 'input', baked);
  if (d.seed !== 'dy') throw new Error(`step graph: expected a cotangent seed, got "${d.seed}"`);
  const ir = parseModel(d.model);
  const rank = m.compiled.inputShape.length + 1;
  const rowAxes = Array.from({ length: rank - 1 }, (_, i) => i + 1);
  const inits: onnx.ITensorProto[] = [];
  let counter = 0;
  const fresh = (hint: string) => `vstep/${hint}_${counter++}`;
  const floatConst = (v: number): string => {
    const name = fresh('f');
    inits.push({ name, dataType: FLOAT, dims: [], rawData: new Uint8Array(Float32Array.of(v).buffer) });
    return name;
  };
  const int64Const = (values: number[]): string => {
    const name = fresh('i');
    inits.push({ name, dataType: onnx.TensorProto.DataType.INT64, dims: [values.length], int64Data: values });
    return name;
  };
  const op = (list: IrNode[], opType: string, inputs: string[], attrs: IrNode['attrs'] = {}, out?: string): string => {
    const o = out ?? fresh(opType.toLowerCase());
    list.push({ opType, name: fresh(`n_${opType}`), inputs, outputs: [o], attrs });
    return o;
  };
  const logits = d.output;
  if (logits !== 'logits') throw new Error(`step graph: expected the forward's output "logits", got "${logits}"`);
  const grad = d.gradients.x;

  // The loss and its seed, right after the forward (the backward reads dy).
  const seedNodes: IrNode[] = [];
  const axis1 = int64Const([1]);
  const lsm = op(seedNodes, 'LogSoftmax', [logits], { axis: 1 });
  const ce = op(seedNodes, 'Neg', [op(seedNodes, 'ReduceSum', [op(seedNodes, 'Mul', ['t', lsm]), axis1], { keepdims: 0 })]);
  op(seedNodes, 'Mul', [ce, 'dir'], {}, 'loss');
  const tSum = op(seedNodes, 'ReduceSum', ['t', axis1], { keepdims: 1 });
  const dCe = op(seedNodes, 'Sub', [op(seedNodes, 'Mul', [op(seedNodes, 'Softmax', [logits], { axis: 1 }), tSum]), 't']);
  op(seedNodes, 'Mul', [dCe, 'dir'], {}, 'dy');

  // The step and the projection (attacks/types.ts steepestDirection and project, in the same float32 ops).
  const stepNodes: IrNode[] = [];
  const axes = int64Const(rowAxes);
  const tiny = floatConst(1e-12);
  let direction: string;
  if (spec.norm === 'linf') direction = op(stepNodes, 'Sign', [grad]);
  else {
    const n = op(stepNodes, 'Sqrt', [op(stepNodes, 'ReduceSum', [op(stepNodes, 'Mul', [grad, grad]), axes], { keepdims: 1 })]);
    direction = op(stepNodes, 'Div', [grad, op(stepNodes, 'Max', [n, tiny])]);
  }
  const moved = op(stepNodes, 'Add', ['x', op(stepNodes, 'Mul', [direction, 'step'])]);
  let delta = op(stepNodes, 'Sub', [moved, 'x0']);
  if (spec.norm === 'linf') delta = op(stepNodes, 'Min', [op(stepNodes, 'Max', [delta, op(stepNodes, 'Neg', ['eps'])]), 'eps']);
  else {
    const n = op(stepNodes, 'Sqrt', [op(stepNodes, 'ReduceSum', [op(stepNodes, 'Mul', [delta, delta]), axes], { keepdims: 1 })]);
    const scale = op(stepNodes, 'Min', [floatConst(1), op(stepNodes, 'Div', ['eps', op(stepNodes, 'Max', [n, tiny])])]);
    delta = op(stepNodes, 'Mul', [delta, scale]);
  }
  op(stepNodes, 'Min', [op(stepNodes, 'Max', [op(stepNodes, 'Add', ['x0', delta]), 'lo']), 'hi'], {}, 'x_next');

  const firstBackward = ir.nodes.findIndex((n) => n.name.startsWith('vgrad/'));
  const cut = firstBackward < 0 ? ir.nodes.length : firstBackward;
  const nodes = [...ir.nodes.slice(0, cut), ...seedNodes, ...ir.nodes.slice(cut), ...stepNodes];
  for (const t of inits) ir.initializers.set(t.name as string, t);
  const batchDims = (per: (number | string)[]) => ['batch', ...per];
  const xDims = batchDims(m.compiled.inputShape);
  const k = m.compiled.numClasses;
  const scalar = (name: string) => ({ name, elemType: FLOAT, dims: [] });
  return encodeModel(
    {
      ...ir,
      nodes,
      inputs: [
        { name: 'x', elemType: FLOAT, dims: xDims },
        { name: 'x0', elemType: FLOAT, dims: xDims },
        { name: 't', elemType: FLOAT, dims: ['batch', k] },
        { name: 'step', elemType: FLOAT, dims: ['batch', ...rowAxes.map(() => 1)] },
        scalar('dir'),
        scalar('eps'),
        scalar('lo'),
        scalar('hi'),
      ],
      outputs: [
        { name: 'x_next', elemType: FLOAT, dims: xDims },
        { name: 'loss', elemType: FLOAT, dims: ['batch'] },
        { name: logits, elemType: FLOAT, dims: ['batch', k] },
      ],
    },
    `step-${spec.norm}-${spec.loss}`,
  );
}

/** Runs attack iterations of `m` through its step graph (built on first use and after any weight change). */
export class Stepper {
  constructor(
    readonly model: OnnxModel,
    readonly spec: StepSpec,
  ) {}

  step(inp: StepInputs): StepOutputs {
    const m = this.model;
    m.weightFeeds();
    const prefix = `step-${this.spec.norm}-${this.spec.loss}-`;
    const session = m.ownedSession(`${prefix}v${m.weightsVersion}`, prefix, () => buildStepGraph(m, this.spec));
    const shape = m.compiled.inputShape;
    const n = inp.step.length;
    const xDims = [n, ...shape];
    const scalar = (v: number): [OrtData, readonly number[]] => [Float32Array.of(v), []];
    m.runs++;
    m.bakedRuns++;
    const out = session.run({
      x: [inp.x, xDims],
      x0: [inp.x0, xDims],
      t: [inp.t, [n, m.compiled.numClasses]],
      step: [inp.step, [n, ...shape.map(() => 1)]],
      dir: scalar(inp.dir),
      eps: scalar(inp.eps),
      lo: scalar(inp.lo),
      hi: scalar(inp.hi),
    });
    return { xNext: out.x_next.data as Float32Array, loss: out.loss.data as Float32Array, logits: out.logits.data as Float32Array };
  }
}

/** A stepper for `m`, or null where the step graph does not apply (disabled, or a loss it does not have). */
export function stepperFor(m: OnnxModel | undefined, spec: { norm: Norm; loss: string }): Stepper | null {
  if (!enabled || !m || spec.loss !== 'ce') return null;
  return new Stepper(m, { norm: spec.norm, loss: 'ce' });
}
