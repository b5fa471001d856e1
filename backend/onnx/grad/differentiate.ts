/**
 * Reverse-mode differentiation of an ONNX graph, op by op.
 *
 * `differentiate(ir, options)` returns one ONNX model that runs the forward
 * graph and its backward together: its inputs are the forward's inputs plus
 * the seed (the output's cotangent `dy`, or int64 `labels` for the summed
 * cross-entropy), its outputs the differentiated output and one gradient per
 * `wrt` name. The batch dimension stays symbolic: one model serves every
 * batch size.
 *
 * How:
 *  1. Shapes. The forward runs twice in onnxruntime (batch 2 and 3, random
 *     inputs) with every intermediate value exposed as an output; a dim that
 *     differs between the runs depends on the batch size and stays symbolic
 *     (null), the others are static. Rules read ranks and static dims from
 *     there and use Shape ops for anything batch-dependent.
 *  2. Which values carry a gradient: those computed from a `wrt` value by
 *     float ops. Integer paths (Shape, Gather of a shape, ...) and anything
 *     not depending on `wrt` are forward-only and get no backward nodes.
 *  3. A reverse walk over the nodes in topological order: each active node's
 *     rule (rules.ts, one per op type) maps its outputs' cotangents to its
 *     inputs' gradients; a value read by several nodes sums its
 *     contributions with Add. An active op without a rule is refused with
 *     one line naming the op and the node.
 */
import { onnx } from 'onnx-proto';
import { GraphBuilder } from '../proto';
import { OrtData, SyncSession } from '../runtime';
import { BOOL, FLOAT, INT64, IrNode, nodeProto, OnnxIr, OnnxModelError } from '../graph';
import { RULES } from './rules';
import type { ProbedDim, RuleContext } from './types';

export type { GradRule, ProbedDim, RuleContext } from './types';

/** An active op the registry has no rule for (or a rule cannot take the node's settings). */
export class UnsupportedOpError extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'UnsupportedOpError';
  }
}

export interface DifferentiateOptions {
  /** graph inputs or initializers to differentiate with respect to */
  wrt: string[];
  /** the output differentiated; default the graph's first output */
  output?: string;
  /**
   * "cotangent": an input `dy` shaped like the output (the classifier's
   * backward: tfjs hands in dLoss/dLogits). "ce": an int64 input `labels`
   * [batch], and the loss is the cross-entropy of softmax(output) summed
   * over the batch, so each example's gradient is that of its own loss.
   */
  seed: 'cotangent' | 'ce';
  /** per-example shapes (batch left out) for inputs whose declared dims are not all static */
  inputShapes?: Record<string, number[]>;
  /** graph inputs without a batch dimension (e.g. weights fed as inputs), with their full shapes */
  fixedInputs?: Record<string, number[]>;
  /** forward values the split's save graph also returns (e.g. a training BatchNorm's batch statistics) */
  saveOutputs?: string[];
}

export interface DifferentiatedModel {
  /** the combined forward + backward ModelProto */
  model: Uint8Array;
  /** the forward's input names (without the seed) */
  inputs: string[];
  /** the seed input: "dy" or "labels" */
  seed: string;
  /** the differentiated output's name (also an output of the model) */
  output: string;
  /** wrt name -> the model's output holding its gradient */
  gradients: Record<string, string>;
  /** node count of the forward and of the added backward (for reports) */
  forwardNodes: number;
  backwardNodes: number;
  /**
   * The same computation as two graphs, for a caller that needs the output
   * before the seed is known (a tfjs op: logits first, dy later): `save`
   * runs the forward and also returns the `residuals` (the forward values
   * the backward reads); `backward` takes the residuals, the forward's
   * inputs it reads (`backwardInputs`), the seed, and returns the gradients.
   */
  split: { save: Uint8Array; backward: Uint8Array; residuals: string[]; backwardInputs: string[] };
}

const PREFIX = 'vgrad/';

/** Sorts nodes so every node comes after the producers of its inputs; a cycle or a missing value is refused. */
function topoSort(ir: OnnxIr): IrNode[] {
  const producer = new Map<string, number>();
  ir.nodes.forEach((n, i) => {
    for (const o of n.outputs) if (o) producer.set(o, i);
  });
  const known = new Set<string>([...ir.inputs.map((v) => v.name), ...ir.initializers.keys(), '']);
  const order: IrNode[] = [];
  const state = new Array<number>(ir.nodes.length).fill(0);
  const visit = (i: number) => {
    if (state[i] === 2) return;
    if (state[i] === 1) throw new OnnxModelError(`the graph has a cycle through node "${ir.nodes[i].name}"`);
    state[i] = 1;
    for (const v of ir.nodes[i].inputs) {
      const p = producer.get(v);
      if (p !== undefined) visit(p);
      else if (!known.has(v)) throw new OnnxModelError(`node "${ir.nodes[i].name}" (${ir.nodes[i].opType}) reads "${v}", which no node, input or initializer provides`);
    }
    state[i] = 2;
    order.push(ir.nodes[i]);
  };
  ir.nodes.forEach((_, i) => {
    visit(i);
  });
  return order;
}

interface Probe {
  shapes: Map<string, ProbedDim[]>;
  floats: Set<string>;
  /** ONNX element type of each node output */
  elem: Map<string, number>;
}

const elemOf = (d: OrtData | ArrayLike<unknown>): number => (d instanceof Float32Array ? FLOAT : d instanceof BigInt64Array ? INT64 : d instanceof Uint8Array ? BOOL : -1);

/** Runs the forward at batch sizes 2 and 3 with every value exposed; shapes and float-ness of each value. */
function probe(ir: OnnxIr, nodes: IrNode[], inputShapes: Record<string, number[]>, fixed: Record<string, number[]>): Probe {
  const names = [...new Set(nodes.flatMap((n) => n.outputs.filter((o) => o)))];
  const probeIr: OnnxIr = { ...ir, nodes, outputs: names.map((name) => ({ name })) };
  let session: SyncSession;
  try {
    session = new SyncSession(encodeIr(probeIr, [], [], [], undefined, fixed));
  } catch (e) {
    throw new OnnxModelError(`onnxruntime cannot load the graph: ${(e as Error).message.split('\n')[0]}`);
  }
  const runs: Record<string, { data: OrtData; dims: number[] }>[] = [];
  try {
    let seed = 12345;
    const rand = () => {
      seed = (seed * 1103515245 + 12345) & 0x7fffffff;
      return seed / 0x7fffffff;
    };
    for (const batch of [2, 3]) {
      const feeds: Record<string, [OrtData, readonly number[]]> = {};
      for (const name of session.inputNames) {
        const dims = fixed[name] ?? [batch, ...inputShapes[name]];
        const data = new Float32Array(dims.reduce((a, c) => a * c, 1));
        for (let i = 0; i < data.length; i++) data[i] = rand();
        feeds[name] = [data, dims];
      }
      runs.push(session.run(feeds));
    }
  } catch (e) {
    throw new OnnxModelError(`the forward graph failed to run on inputs of shape ${JSON.stringify(inputShapes)}: ${(e as Error).message.split('\n')[0]}`);
  } finally {
    session.dispose();
  }
  const shapes = new Map<string, ProbedDim[]>();
  const floats = new Set<string>();
  const elem = new Map<string, number>();
  for (const name of names) {
    const [a, c] = [runs[0][name], runs[1][name]];
    if (a.dims.length !== c.dims.length) throw new OnnxModelError(`the rank of "${name}" depends on the batch size`);
    shapes.set(
      name,
      a.dims.map((d, i) => (d === c.dims[i] ? d : null)),
    );
    elem.set(name, elemOf(a.data));
    if (elemOf(a.data) === FLOAT) floats.add(name);
  }
  for (const v of ir.inputs) {
    shapes.set(v.name, fixed[v.name] ?? [null, ...inputShapes[v.name]]);
    floats.add(v.name);
  }
  for (const [name, t] of ir.initializers) {
    shapes.set(
      name,
      (t.dims ?? []).map((d) => Number(d)),
    );
    if (t.dataType === FLOAT) floats.add(name);
  }
  return { shapes, floats, elem };
}

/** The forward's float inputs with their per-example shapes: given, else declared (first dim the batch). */
function resolveInputShapes(ir: OnnxIr, given: Record<string, number[]> = {}, fixed: Record<string, number[]> = {}): Record<string, number[]> {
  const out: Record<string, number[]> = {};
  for (const v of ir.inputs) {
    if (fixed[v.name]) continue;
    if (v.elemType !== undefined && v.elemType !== FLOAT) throw new OnnxModelError(`graph input "${v.name}" has element type ${v.elemType}; only float32 inputs are supported`);
    if (given[v.name]) {
      out[v.name] = given[v.name];
      continue;
    }
    const dims = v.dims?.slice(1);
    if (!dims?.every((d): d is number => typeof d === 'number'))
      throw new OnnxModelError(`graph input "${v.name}" has symbolic dims beyond the batch ([${(v.dims ?? []).map((d) => d ?? '?').join(', ')}]); give its shape`);
    out[v.name] = dims;
  }
  return out;
}

function encodeIr(
  ir: OnnxIr,
  extraNodes: onnx.INodeProto[],
  extraInits: onnx.ITensorProto[],
  extraInputs: onnx.IValueInfoProto[] = [],
  outputs?: onnx.IValueInfoProto[],
  fixed: Record<string, number[]> = {},
): Uint8Array {
  const model = onnx.ModelProto.create({
    irVersion: Math.max(ir.irVersion, 8),
    producerName: 'vicinal',
    producerVersion: '1',
    opsetImport: [{ domain: '', version: Math.max(ir.opset, 17) }],
    graph: {
      name: 'differentiated',
      node: [...ir.nodes.map(nodeProto), ...extraNodes],
      initializer: [...ir.initializers.values(), ...extraInits],
      input: [
        ...ir.inputs.map((v) => ({
          name: v.name,
          type: {
            tensorType: {
              elemType: FLOAT,
              shape: {
                dim: fixed[v.name]
                  ? fixed[v.name].map((d) => ({ dimValue: d }))
                  : (v.dims ?? []).map((d, i) => (i === 0 ? { dimParam: 'batch' } : typeof d === 'number' ? { dimValue: d } : { dimParam: String(d ?? `d${i}`) })),
              },
            },
          },
        })),
        ...extraInputs,
      ],
      output: outputs ?? ir.outputs.map((v) => ({ name: v.name })),
    },
  });
  return onnx.ModelProto.encode(model).finish();
}

/** Builds the forward + backward model of `ir` (see the module comment). */
export function differentiate(ir: OnnxIr, options: DifferentiateOptions): DifferentiatedModel {
  const fixed = options.fixedInputs ?? {};
  const inputShapes = resolveInputShapes(ir, options.inputShapes, fixed);
  const output = options.output ?? ir.outputs[0]?.name;
  if (!output || !ir.outputs.some((o) => o.name === output)) throw new OnnxModelError(`the graph has no output "${output}"`);
  const sorted = topoSort(ir);
  // Rules may rewrite their forward node (e.g. MaxPool also returns its argmax).
  const nodes = sorted.map((n) => RULES[n.opType]?.prepare?.(n) ?? n);
  const { shapes, floats, elem } = probe(ir, nodes, inputShapes, fixed);
  for (const w of options.wrt) {
    if (!shapes.has(w) || (!ir.initializers.has(w) && !ir.inputs.some((v) => v.name === w))) throw new OnnxModelError(`"${w}" is not a graph input or initializer`);
    if (!floats.has(w)) throw new OnnxModelError(`"${w}" is not a float32 tensor`);
  }

  // Forward: which float values depend on a wrt value.
  const active = new Set<string>(options.wrt);
  for (const n of nodes) {
    if (n.inputs.some((v) => active.has(v))) for (const o of n.outputs) if (o && floats.has(o)) active.add(o);
  }

  const b = new GraphBuilder('backward', PREFIX);
  const shapeOf = (v: string): ProbedDim[] => {
    const s = shapes.get(v);
    if (!s) throw new OnnxModelError(`no probed shape for "${v}"`);
    return s;
  };
  const scalars = new Map<number, string>();
  const scalar = (v: number): string => {
    let s = scalars.get(v);
    if (!s) scalars.set(v, (s = b.float32([v], [])));
    return s;
  };
  const unbroadcast = (g: string, from: ProbedDim[], x: string): string => {
    const to = shapeOf(x);
    const lead = from.length - to.length;
    const axes: number[] = [];
    for (let i = 0; i < from.length; i++) if (i < lead || (to[i - lead] === 1 && from[i] !== 1)) axes.push(i);
    if (axes.length === 0 && lead === 0) return g;
    const reduced = axes.length ? b.op('ReduceSum', [g, b.int64(axes)], { keepdims: 1 }) : g;
    return b.op('Reshape', [reduced, b.op('Shape', [x])]);
  };

  // Seed.
  const pending = new Map<string, string[]>();
  const add = (v: string, g: string) => {
    const list = pending.get(v);
    if (list) list.push(g);
    else pending.set(v, [g]);
  };
  const extraInputs: onnx.IValueInfoProto[] = [];
  const outShape = shapeOf(output);
  const dimsProto = (s: ProbedDim[]) => s.map((d) => (d === null ? { dimParam: 'batch' } : { dimValue: d }));
  let seed: string;
  if (options.seed === 'cotangent') {
    seed = 'dy';
    extraInputs.push({ name: seed, type: { tensorType: { elemType: FLOAT, shape: { dim: dimsProto(outShape) } } } });
    add(output, seed);
  } else {
    if (outShape.length !== 2 || outShape[1] === null)
      throw new OnnxModelError(`the output "${output}" is not [batch, classes] (shape [${outShape.map((d) => d ?? 'batch')}]), so it has no cross-entropy`);
    seed = 'labels';
    extraInputs.push({ name: seed, type: { tensorType: { elemType: INT64, shape: { dim: [{ dimParam: 'batch' }] } } } });
    const p = b.op('Softmax', [output], { axis: 1 });
    const onehot = b.op('OneHot', [seed, b.int64([outShape[1]], []), b.float32([0, 1], [2])], { axis: -1 });
    add(output, b.op('Sub', [p, onehot]));
  }
  if (!active.has(output)) throw new OnnxModelError(`the output "${output}" does not depend on ${options.wrt.join(', ')}`);

  const total = (v: string): string | null => {
    const list = pending.get(v);
    if (!list) return null;
    let g = list[0];
    for (let i = 1; i < list.length; i++) g = b.op('Add', [g, list[i]]);
    pending.set(v, [g]);
    return g;
  };

  const producers = new Map<string, IrNode>();
  const consumers = new Map<string, IrNode[]>();
  for (const n of nodes) {
    for (const o of n.outputs) producers.set(o, n);
    for (const v of n.inputs) consumers.set(v, [...(consumers.get(v) ?? []), n]);
  }
  const endpoints = new Set([...ir.outputs.map((o) => o.name), ...options.wrt]);
  const bypassed = new Set<IrNode>();
  for (let i = nodes.length - 1; i >= 0; i--) {
    const node = nodes[i];
    if (!node.outputs.some((o) => active.has(o))) continue;
    const gy = node.outputs.map((o) => (o && active.has(o) ? total(o) : null));
    if (gy.every((g) => g === null)) continue;
    if (bypassed.has(node)) {
      add(node.inputs[0], gy[0] as string);
      continue;
    }
    const needs = node.inputs.map((v) => v !== '' && active.has(v));
    if (!needs.some((x) => x)) continue;
    const rule = RULES[node.opType];
    const refuse = (why: string): never => {
      throw new UnsupportedOpError(`node "${node.name}" (${node.opType}): ${why}`);
    };
    if (!rule) refuse(`no gradient rule for op ${node.opType} (supported: ${Object.keys(RULES).sort().join(', ')})`);
    const attr = (name: string) => node.attrs[name];
    const ctx: RuleContext = {
      node,
      b,
      gy,
      needs,
      shape: shapeOf,
      staticDims: (v, from = 0) =>
        shapeOf(v)
          .slice(from)
          .map((d, j) => (d === null ? refuse(`dim ${from + j} of "${v}" depends on the batch size; this op needs it static`) : d)),
      int: (name, def) => {
        const a = attr(name);
        return typeof a === 'number' ? a : def;
      },
      ints: (name, def) => {
        const a = attr(name);
        return Array.isArray(a) ? (a as number[]) : def;
      },
      float: (name, def) => {
        const a = attr(name);
        return a !== undefined && typeof a === 'object' && 'float' in a ? a.float : def;
      },
      str: (name, def) => {
        const a = attr(name);
        return typeof a === 'string' ? a : def;
      },
      scalar,
      unbroadcast,
      refuse,
      producer: (v) => producers.get(v),
      consumers: (v) => consumers.get(v) ?? [],
      isEndpoint: (v) => endpoints.has(v),
      bypass: (n) => {
        bypassed.add(n);
      },
    };
    const grads = rule.backward(ctx);
    node.inputs.forEach((v, j) => {
      if (!needs[j]) return;
      const g = grads[j];
      if (!g) refuse(`no gradient for input ${j} ("${v}")`);
      add(v, g as string);
    });
  }

  const gradients: Record<string, string> = {};
  const outputs: onnx.IValueInfoProto[] = [{ name: output, type: { tensorType: { elemType: FLOAT, shape: { dim: dimsProto(outShape) } } } }];
  for (const w of options.wrt) {
    const name = `grad_${w}`;
    let g = total(w);
    // A wrt value the output does not reach has a zero gradient.
    if (!g) g = b.op('Expand', [scalar(0), b.op('Shape', [w])]);
    b.node('Identity', [g], {}, 1);
    const { nodes: built } = b.parts();
    built[built.length - 1].output = [name];
    gradients[w] = name;
    outputs.push({ name, type: { tensorType: { elemType: FLOAT, shape: { dim: dimsProto(shapeOf(w)) } } } });
  }
  const { nodes: extra, initializers } = b.parts();
  const model = encodeIr({ ...ir, nodes }, extra, initializers, extraInputs, outputs, fixed);
  const split = splitAtResiduals(ir, nodes, extra, initializers, extraInputs, outputs, fixed, output, options.saveOutputs ?? [], (v) => ({
    name: v,
    type: { tensorType: { elemType: elem.get(v) ?? FLOAT, shape: { dim: shapeOf(v).map((d, j) => (d === null ? { dimParam: `${v}_d${j}` } : { dimValue: d })) } } },
  }));
  return { model, inputs: ir.inputs.map((v) => v.name), seed, output, gradients, forwardNodes: nodes.length, backwardNodes: extra.length, split };
}

/** Seed-independent backward ops run in the save graph: masks (bool, a quarter of their float input) and shapes (a few int64). */
const SAVE_SIDE_OPS = new Set(['Greater', 'GreaterOrEqual', 'Less', 'LessOrEqual', 'Equal', 'And', 'Or', 'Not', 'Shape', 'Size']);

/** Splits forward + backward into a save graph (forward, also returning the values the backward reads) and a backward graph. */
function splitAtResiduals(
  ir: OnnxIr,
  nodes: IrNode[],
  backward: onnx.INodeProto[],
  backwardInits: onnx.ITensorProto[],
  seedInputs: onnx.IValueInfoProto[],
  gradOutputs: onnx.IValueInfoProto[],
  fixed: Record<string, number[]>,
  output: string,
  saveOutputs: string[],
  info: (v: string) => onnx.IValueInfoProto,
): DifferentiatedModel['split'] {
  const produced = new Set(nodes.flatMap((n) => n.outputs));
  // Comparisons and shapes that do not depend on the seed (relu and clip masks) run in the save graph,
  // so the residual is their bool or int64 output, not the float tensor they are computed from.
  const seeded = new Set(seedInputs.map((v) => v.name ?? ''));
  const initNames = new Set([...ir.initializers.keys(), ...backwardInits.map((t) => t.name ?? '')]);
  const available = (v: string) => !v || produced.has(v) || initNames.has(v) || ir.inputs.some((i) => i.name === v);
  const moved: onnx.INodeProto[] = [];
  const kept: onnx.INodeProto[] = [];
  const movedOut = new Set<string>();
  for (const n of backward) {
    const ins = n.input ?? [];
    if (ins.some((v) => seeded.has(v))) for (const o of n.output ?? []) seeded.add(o);
    else if (SAVE_SIDE_OPS.has(n.opType ?? '') && ins.every((v) => available(v) || movedOut.has(v))) {
      moved.push(n);
      for (const o of n.output ?? []) movedOut.add(o);
      continue;
    }
    kept.push(n);
  }
  // Forward values computed from initializers alone (e.g. a baked kernel's transpose) are recomputed in the
  // backward graph, where onnxruntime folds them once, instead of being copied out and back on every call.
  const constant = new Set<string>();
  const constNodes: IrNode[] = [];
  for (const n of nodes) {
    if (n.inputs.length > 0 && n.inputs.every((v) => !v || ir.initializers.has(v) || constant.has(v))) {
      for (const o of n.outputs) constant.add(o);
      constNodes.push(n);
    }
  }
  const reads = new Set(kept.flatMap((n) => n.input ?? []));
  for (const o of gradOutputs.slice(1)) reads.add(o.name ?? '');
  const needConst = new Set<string>();
  const pending = [...reads].filter((v) => constant.has(v));
  while (pending.length) {
    const v = pending.pop() as string;
    if (needConst.has(v)) continue;
    needConst.add(v);
    const p = constNodes.find((n) => n.outputs.includes(v));
    for (const i of p?.inputs ?? []) if (constant.has(i)) pending.push(i);
  }
  const foldNodes = constNodes.filter((n) => n.outputs.some((o) => needConst.has(o)));
  for (const n of foldNodes) for (const i of n.inputs) reads.add(i);
  const residuals = [...reads].filter((v) => v && !constant.has(v) && (produced.has(v) || movedOut.has(v)));
  const backwardInputs = ir.inputs.map((v) => v.name).filter((v) => reads.has(v));
  const movedReads = new Set(moved.flatMap((n) => n.input ?? []));
  const save = encodeIr(
    { ...ir, nodes },
    moved,
    backwardInits.filter((t) => movedReads.has(t.name ?? '')),
    [],
    [{ name: output }, ...[...new Set([...residuals, ...saveOutputs])].filter((r) => r !== output).map((r) => ({ name: r }))],
    fixed,
  );
  const inits = [...[...ir.initializers.values()].filter((t) => reads.has(t.name ?? '')), ...backwardInits.filter((t) => reads.has(t.name ?? ''))];
  const movedType = new Map(moved.flatMap((n) => (n.output ?? []).map((o) => [o, n.opType === 'Shape' || n.opType === 'Size' ? INT64 : BOOL] as const)));
  const residualInfo = (v: string): onnx.IValueInfoProto => (movedOut.has(v) ? { name: v, type: { tensorType: { elemType: movedType.get(v) } } } : info(v));
  const inputInfo = (v: string) => {
    const dims = fixed[v] ?? null;
    return dims ? { name: v, type: { tensorType: { elemType: FLOAT, shape: { dim: dims.map((d) => ({ dimValue: d })) } } } } : info(v);
  };
  const model = onnx.ModelProto.create({
    irVersion: Math.max(ir.irVersion, 8),
    producerName: 'vicinal',
    producerVersion: '1',
    opsetImport: [{ domain: '', version: Math.max(ir.opset, 17) }],
    graph: {
      name: 'backward',
      node: [...foldNodes.map(nodeProto), ...kept],
      initializer: inits,
      input: [...residuals.map(residualInfo), ...backwardInputs.map(inputInfo), ...seedInputs],
      output: gradOutputs.slice(1),
    },
  });
  return { save, backward: onnx.ModelProto.encode(model).finish(), residuals, backwardInputs };
}
