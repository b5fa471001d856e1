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
 * Losses: the objective is dir * L(z, t) with t one-hot rows: "ce", the
 * cross-entropy, "margin", max_{j != c} z_j - z_c (c the row's class), and
 * "dlr" (untargeted only); dir +1 untargeted (ascend the label's loss), -1
 * targeted (descend the target's), as attackObjective. The targeted DLR
 * (APGD-T) has no step graph.
 *
 * Graph inputs: x and x0 [n, ...inputShape], t [n, classes], step [n, 1, ...]
 * (per-example step size), dir, eps, lo, hi (float32 scalars); APGD adds x_prev
 * and g (like x) and the momentum weights a and b = 1 - a (per row, like step). Outputs:
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

/** The losses a step graph can ascend (attacks/losses.ts); "dlr" untargeted only; "dlr-targeted" is APGD-T's (t the target, u the label). */
export const STEP_LOSSES = ['ce', 'margin', 'dlr', 'dlr-targeted'] as const;
export type StepLoss = (typeof STEP_LOSSES)[number];

/**
 * What one call does. "pgd": evaluate at x, then step from x along that
 * gradient (outputs x_next, loss, logits). "eval": evaluate at x (outputs
 * loss, logits, grad). "apgd": APGD's momentum step from x along the given
 * gradient g, then evaluate at the new point (outputs x_next and its loss,
 * logits and grad).
 */
export type StepKind = 'pgd' | 'eval' | 'apgd';

export interface StepSpec {
  norm: Norm;
  loss: StepLoss;
  kind: StepKind;
}

/** One PGD iteration's inputs; arrays are row-major float32 of the shapes in the module comment. */
export interface StepInputs {
  x: Float32Array;
  x0: Float32Array;
  /** one-hot rows [n, classes] */
  t: Float32Array;
  /** the label's one-hot rows, for "dlr-targeted" only */
  u?: Float32Array;
  /** per-example step size [n] */
  step: Float32Array;
  dir: 1 | -1;
  eps: number;
  lo: number;
  hi: number;
}

/** One APGD iteration's inputs: the PGD ones plus the previous iterate, the gradient at x and the momentum weight `a` (z's; x - xPrev gets 1 - a). */
export interface MomentumInputs extends StepInputs {
  xPrev: Float32Array;
  g: Float32Array;
  a: number;
}

export interface StepOutputs {
  xNext: Float32Array;
  loss: Float32Array;
  logits: Float32Array;
}

export interface EvalOutputs {
  loss: Float32Array;
  logits: Float32Array;
  grad: Float32Array;
}

let enabled = true;

/** Lets tests and benchmarks run the tfjs path on the engine for comparison (default: the step graph is used where it applies). */
export function setStepGraphEnabled(on: boolean): void {
  enabled = on;
}

export function stepGraphEnabled(): boolean {
  return enabled;
}

/**
 * Builds the step graph's ModelProto for `m`'s current weights (weightFeeds() gives them), or, with
 * `weightsAsInputs`, one that reads the weights as graph inputs named as weightFeeds() names them (one
 * session for every weight version: adversarial training's inner attack, whose weights change every batch).
 */
export function buildStepGraph(m: OnnxModel, spec: StepSpec, weightsAsInputs = false): Uint8Array {
  const feeds = m.weightFeeds();
  const baked = weightsAsInputs ? undefined : m.compiled.weights.map((w) => feeds[w.name][0] as Float32Array);
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
  // APGD evaluates the point its step makes: the network reads that (the output x_next itself, so that
  // no Identity copies it out) instead of the input x.
  const evalAt = spec.kind === 'apgd' ? 'x_next' : 'x';
  const network = withoutOutputCopy(
    ir.nodes.map((n) => (evalAt === 'x' ? n : { ...n, inputs: n.inputs.map((v) => (v === 'x' ? evalAt : v)) })),
    grad,
  );

  /** One-hot float rows of the r largest logits, largest first (losses.ts largestLogits: first maximum, larger ones masked). */
  const rankPicks = (list: IrNode[], r: number): string[] => {
    const k = m.compiled.numClasses;
    const classRow = op(list, 'Reshape', [int64Const(Array.from({ length: k }, (_, i) => i)), int64Const([1, k])]);
    const minusInf = floatConst(Number.NEGATIVE_INFINITY);
    let taken = '';
    const picks: string[] = [];
    for (let i = 0; i < r; i++) {
      const from = taken ? op(list, 'Where', [taken, minusInf, logits]) : logits;
      const idx = op(list, 'ArgMax', [from], { axis: 1, keepdims: 1, select_last_index: 0 });
      const pick = op(list, 'Equal', [classRow, idx]);
      picks.push(op(list, 'Cast', [pick], { to: FLOAT }));
      taken = taken ? op(list, 'Or', [taken, pick]) : pick;
    }
    return picks;
  };

  // The loss and its seed, right after the forward (the backward reads dy): objective = dir * L(z, t).
  const seedNodes: IrNode[] = [];
  const axis1 = int64Const([1]);
  if (spec.loss === 'ce') {
    // L = -sum t log softmax(z); dL/dz = softmax(z) sum(t) - t
    const lsm = op(seedNodes, 'LogSoftmax', [logits], { axis: 1 });
    const ce = op(seedNodes, 'Neg', [op(seedNodes, 'ReduceSum', [op(seedNodes, 'Mul', ['t', lsm]), axis1], { keepdims: 0 })]);
    op(seedNodes, 'Mul', [ce, 'dir'], {}, 'loss');
    const tSum = op(seedNodes, 'ReduceSum', ['t', axis1], { keepdims: 1 });
    const dCe = op(seedNodes, 'Sub', [op(seedNodes, 'Mul', [op(seedNodes, 'Softmax', [logits], { axis: 1 }), tSum]), 't']);
    op(seedNodes, 'Mul', [dCe, 'dir'], {}, 'dy');
  } else if (spec.loss === 'dlr-targeted') {
    // (z_t - z_u) / (z_pi1 - (z_pi3 + z_pi4) / 2 + 1e-12) (losses.ts dlrTargetedLoss; pi4 = pi3 with three
    // classes, the plain difference with two), by the quotient rule as for "dlr"
    const k = m.compiled.numClasses;
    const zOf = (pick: string) => op(seedNodes, 'ReduceSum', [op(seedNodes, 'Mul', [logits, pick]), axis1], { keepdims: 0 });
    const diff = op(seedNodes, 'Sub', [zOf('t'), zOf('u')]);
    const dDiff = op(seedNodes, 'Sub', ['t', 'u']);
    if (k < 3) {
      op(seedNodes, 'Mul', [diff, 'dir'], {}, 'loss');
      op(seedNodes, 'Mul', [dDiff, 'dir'], {}, 'dy');
    } else {
      const picks = rankPicks(seedNodes, Math.min(4, k));
      while (picks.length < 4) picks.push(picks[picks.length - 1]);
      const half = floatConst(0.5);
      const denom = op(seedNodes, 'Add', [op(seedNodes, 'Sub', [zOf(picks[0]), op(seedNodes, 'Mul', [op(seedNodes, 'Add', [zOf(picks[2]), zOf(picks[3])]), half])]), floatConst(1e-12)]);
      op(seedNodes, 'Mul', [op(seedNodes, 'Div', [diff, denom]), 'dir'], {}, 'loss');
      const unsq = (v: string) => op(seedNodes, 'Unsqueeze', [v, axis1]);
      const dDenom = op(seedNodes, 'Sub', [picks[0], op(seedNodes, 'Mul', [op(seedNodes, 'Add', [picks[2], picks[3]]), half])]);
      const fromDiff = op(seedNodes, 'Div', [dDiff, unsq(denom)]);
      const fromDenom = op(seedNodes, 'Mul', [dDenom, unsq(op(seedNodes, 'Div', [diff, op(seedNodes, 'Mul', [denom, denom])]))]);
      op(seedNodes, 'Mul', [op(seedNodes, 'Sub', [fromDiff, fromDenom]), 'dir'], {}, 'dy');
    }
  } else {
    // margin = max_{j != c} z_j - z_c (c the class of row t); dmargin/dz = [z_j equals that max] - t, every
    // tied maximum getting the gradient as tf.max's does (losses.ts marginLoss).
    const own = op(seedNodes, 'Cast', ['t'], { to: onnx.TensorProto.DataType.BOOL });
    const minusInf = floatConst(Number.NEGATIVE_INFINITY);
    const masked = op(seedNodes, 'Where', [own, minusInf, logits]);
    const other = op(seedNodes, 'ReduceMax', [masked], { axes: [1], keepdims: 1 }); // opset 17: axes an attribute
    const zc = op(seedNodes, 'ReduceSum', [op(seedNodes, 'Mul', [logits, 't']), axis1], { keepdims: 0 });
    const margin = op(seedNodes, 'Sub', [op(seedNodes, 'Squeeze', [other, axis1]), zc]);
    const dMargin = op(seedNodes, 'Sub', [op(seedNodes, 'Cast', [op(seedNodes, 'Equal', [masked, other])], { to: FLOAT }), 't']);
    const k = m.compiled.numClasses;
    if (spec.loss === 'margin' || k < 3) {
      // DLR with fewer than three classes is the margin (losses.ts dlrLoss)
      op(seedNodes, 'Mul', [margin, 'dir'], {}, 'loss');
      op(seedNodes, 'Mul', [dMargin, 'dir'], {}, 'dy');
    } else {
      // DLR = margin / (z_pi1 - z_pi3 + 1e-12), pi the classes by logit, largest first, each picked by the
      // first maximum with the larger ones masked out (losses.ts largestLogits: one logit per rank gets the gradient)
      const picks = rankPicks(seedNodes, 3);
      const zOf = (pick: string) => op(seedNodes, 'ReduceSum', [op(seedNodes, 'Mul', [logits, pick]), axis1], { keepdims: 0 });
      const denom = op(seedNodes, 'Add', [op(seedNodes, 'Sub', [zOf(picks[0]), zOf(picks[2])]), floatConst(1e-12)]);
      const dlr = op(seedNodes, 'Div', [margin, denom]);
      op(seedNodes, 'Mul', [dlr, 'dir'], {}, 'loss');
      // d(m/D) = dm / D - (m / D^2) dD, dD/dz = e_pi1 - e_pi3
      const unsq = (v: string) => op(seedNodes, 'Unsqueeze', [v, axis1]);
      const fromMargin = op(seedNodes, 'Div', [dMargin, unsq(denom)]);
      const dDenom = op(seedNodes, 'Sub', [picks[0], picks[2]]);
      const fromDenom = op(seedNodes, 'Mul', [dDenom, unsq(op(seedNodes, 'Div', [margin, op(seedNodes, 'Mul', [denom, denom])]))]);
      op(seedNodes, 'Mul', [op(seedNodes, 'Sub', [fromMargin, fromDenom]), 'dir'], {}, 'dy');
    }
  }

  // attacks/types.ts steepestDirection and project, in the same float32 ops. Clip (max, then min) is
  // tf.clipByValue; a rank-0 operand of a large elementwise op is avoided (onnxruntime 1.30's CPU
  // kernels broadcast it ~15x slower than a same-shape or per-row [n, 1, ...] one).
  const axes = int64Const(rowAxes);
  const tiny = floatConst(1e-12);
  const rowNorm = (list: IrNode[], v: string) => op(list, 'Sqrt', [op(list, 'ReduceSum', [op(list, 'Mul', [v, v]), axes], { keepdims: 1 })]);
  const steepest = (list: IrNode[], g: string) => (spec.norm === 'linf' ? op(list, 'Sign', [g]) : op(list, 'Div', [g, op(list, 'Max', [rowNorm(list, g), tiny])]));
  const project = (list: IrNode[], v: string, out?: string) => {
    let delta = op(list, 'Sub', [v, 'x0']);
    if (spec.norm === 'linf') delta = op(list, 'Clip', [delta, op(list, 'Neg', ['eps']), 'eps']);
    else {
      const scale = op(list, 'Min', [floatConst(1), op(list, 'Div', ['eps', op(list, 'Max', [rowNorm(list, delta), tiny])])]);
      delta = op(list, 'Mul', [delta, scale]);
    }
    return op(list, 'Clip', [op(list, 'Add', ['x0', delta]), 'lo', 'hi'], {}, out);
  };
  const before: IrNode[] = [];
  const after: IrNode[] = [];
  if (spec.kind === 'pgd') project(after, op(after, 'Add', ['x', op(after, 'Mul', [steepest(after, grad), 'step'])]), 'x_next');
  if (spec.kind === 'apgd') {
    // z = P(x + step dir(g)); x_next = P(x + a (z - x) + (1 - a)(x - x_prev)) (apgd.ts apgdRun)
    const z = project(before, op(before, 'Add', ['x', op(before, 'Mul', [steepest(before, 'g'), 'step'])]));
    const blend = op(before, 'Add', [op(before, 'Mul', [op(before, 'Sub', [z, 'x']), 'a']), op(before, 'Mul', [op(before, 'Sub', ['x', 'x_prev']), 'b'])]);
    project(before, op(before, 'Add', ['x', blend]), evalAt);
  }

  const firstBackward = network.findIndex((n) => n.name.startsWith('vgrad/'));
  const cut = firstBackward < 0 ? network.length : firstBackward;
  const nodes = [...before, ...network.slice(0, cut), ...seedNodes, ...network.slice(cut), ...after];
  for (const t of inits) ir.initializers.set(t.name as string, t);
  const xDims = ['batch', ...m.compiled.inputShape];
  const k = m.compiled.numClasses;
  const scalar = (name: string) => ({ name, elemType: FLOAT, dims: [] });
  const xLike = (name: string) => ({ name, elemType: FLOAT, dims: xDims });
  const perRow = (name: string) => ({ name, elemType: FLOAT, dims: ['batch', ...rowAxes.map(() => 1)] });
  const inputs = [xLike('x'), { name: 't', elemType: FLOAT, dims: ['batch', k] }, scalar('dir')];
  if (spec.loss === 'dlr-targeted') inputs.push({ name: 'u', elemType: FLOAT, dims: ['batch', k] });
  if (spec.kind !== 'eval') inputs.push(xLike('x0'), perRow('step'), scalar('eps'), scalar('lo'), scalar('hi'));
  if (spec.kind === 'apgd') inputs.push(xLike('x_prev'), xLike('g'), perRow('a'), perRow('b'));
  if (weightsAsInputs) for (const w of m.compiled.weights) if (ir.inputs.some((i) => i.name === w.name)) inputs.push({ name: w.name, elemType: FLOAT, dims: w.shape });
  const outputs = [
    { name: 'loss', elemType: FLOAT, dims: ['batch'] },
    { name: logits, elemType: FLOAT, dims: ['batch', k] },
  ];
  if (spec.kind !== 'pgd') outputs.push({ name: grad, elemType: FLOAT, dims: xDims });
  if (spec.kind !== 'eval') outputs.push(xLike('x_next'));
  return encodeModel({ ...ir, nodes, inputs, outputs }, `step-${spec.kind}-${spec.norm}-${spec.loss}`);
}

/**
 * `nodes` with the Identity that copies a value into `name` removed, its
 * producer writing `name` directly, where nothing else reads the copied
 * value (the differentiator names the input gradient by such a copy, an
 * extra pass over an input-sized tensor per call; ORT keeps an Identity
 * that feeds a graph output).
 */
function withoutOutputCopy(nodes: IrNode[], name: string): IrNode[] {
  const copy = nodes.find((n) => n.opType === 'Identity' && n.outputs[0] === name);
  if (!copy) return nodes;
  const from = copy.inputs[0];
  const producer = nodes.find((n) => n.outputs.includes(from));
  if (!producer || nodes.some((n) => n !== copy && n.inputs.includes(from))) return nodes;
  return nodes.filter((n) => n !== copy).map((n) => (n === producer ? { ...n, outputs: n.outputs.map((o) => (o === from ? name : o)) } : n));
}

/**
 * The data as a Float32Array (ORT reads anything else as another element
 * type): a float32 tfjs tensor's dataSync can hand back an Int32Array, e.g. a
 * one-hot made on the wasm backend and cast to float32.
 */
function asFloat32(d: Float32Array): Float32Array {
  return d instanceof Float32Array ? d : Float32Array.from(d as ArrayLike<number>);
}

/**
 * Runs attack iterations of `m` through its step graphs (each built on first use and after any weight
 * change; with `weightsAsInputs`, built once and fed the current weights).
 */
export class Stepper {
  constructor(
    readonly model: OnnxModel,
    readonly norm: Norm,
    readonly loss: StepLoss,
    readonly weightsAsInputs = false,
  ) {}

  private run(kind: StepKind, feeds: Record<string, [OrtData, readonly number[]]>) {
    const m = this.model;
    const weights = m.weightFeeds();
    if (this.weightsAsInputs) {
      const key = `stepw-${kind}-${this.norm}-${this.loss}`;
      const session = m.ownedSession(key, key, () => buildStepGraph(m, { norm: this.norm, loss: this.loss, kind }, true));
      m.runs++;
      return session.run({ ...feeds, ...weights });
    }
    const prefix = `step-${kind}-${this.norm}-${this.loss}-`;
    const session = m.ownedSession(`${prefix}v${m.weightsVersion}`, prefix, () => buildStepGraph(m, { norm: this.norm, loss: this.loss, kind }));
    m.runs++;
    m.bakedRuns++;
    // every kind runs the network forward and backward to the input once
    m.passRows.gradient += feeds.t[1][0];
    return session.run(feeds);
  }

  private feeds(inp: Partial<MomentumInputs> & { x: Float32Array; t: Float32Array; dir: 1 | -1 }, n: number): Record<string, [OrtData, readonly number[]]> {
    const shape = this.model.compiled.inputShape;
    const xDims = [n, ...shape];
    const rowDims = [n, ...shape.map(() => 1)];
    const scalar = (v: number): [OrtData, readonly number[]] => [Float32Array.of(v), []];
    const f: Record<string, [OrtData, readonly number[]]> = { x: [asFloat32(inp.x), xDims], t: [asFloat32(inp.t), [n, this.model.compiled.numClasses]], dir: scalar(inp.dir) };
    if (inp.x0) f.x0 = [asFloat32(inp.x0), xDims];
    if (inp.u) f.u = [asFloat32(inp.u), [n, this.model.compiled.numClasses]];
    if (inp.step) f.step = [asFloat32(inp.step), rowDims];
    if (inp.eps !== undefined) f.eps = scalar(inp.eps);
    if (inp.lo !== undefined) f.lo = scalar(inp.lo);
    if (inp.hi !== undefined) f.hi = scalar(inp.hi);
    if (inp.xPrev) f.x_prev = [asFloat32(inp.xPrev), xDims];
    if (inp.g) f.g = [asFloat32(inp.g), xDims];
    if (inp.a !== undefined) {
      f.a = [new Float32Array(n).fill(inp.a), rowDims];
      f.b = [new Float32Array(n).fill(1 - inp.a), rowDims];
    }
    return f;
  }

  /** PGD: loss and logits at x, and x_next = P(x + step dir(grad)). */
  step(inp: StepInputs): StepOutputs {
    const out = this.run('pgd', this.feeds(inp, inp.step.length));
    return { xNext: out.x_next.data as Float32Array, loss: out.loss.data as Float32Array, logits: out.logits.data as Float32Array };
  }

  /** Loss, logits and the loss's input gradient at x. */
  evaluate(x: Float32Array, t: Float32Array, dir: 1 | -1, u?: Float32Array): EvalOutputs {
    const n = t.length / this.model.compiled.numClasses;
    const out = this.run('eval', this.feeds({ x, t, dir, u }, n));
    return { loss: out.loss.data as Float32Array, logits: out.logits.data as Float32Array, grad: out.grad_x.data as Float32Array };
  }

  /** APGD: x_next = P(x + a (z - x) + (1 - a)(x - xPrev)) with z = P(x + step dir(g)), then loss, logits and gradient at x_next. */
  momentum(inp: MomentumInputs): StepOutputs & { grad: Float32Array } {
    const out = this.run('apgd', this.feeds(inp, inp.step.length));
    return { xNext: out.x_next.data as Float32Array, loss: out.loss.data as Float32Array, logits: out.logits.data as Float32Array, grad: out.grad_x.data as Float32Array };
  }
}

/** A stepper for `m`, or null where the step graph does not apply (disabled, or a loss it does not have); `weightsAsInputs` as Stepper's. */
export function stepperFor(m: OnnxModel | undefined, spec: { norm: Norm; loss: string; targeted: boolean; weightsAsInputs?: boolean }): Stepper | null {
  if (!enabled || !m || !(STEP_LOSSES as readonly string[]).includes(spec.loss)) return null;
  if (spec.loss === 'dlr' && spec.targeted) return null; // the targeted DLR is "dlr-targeted"
  return new Stepper(m, spec.norm, spec.loss as StepLoss, spec.weightsAsInputs === true);
}
