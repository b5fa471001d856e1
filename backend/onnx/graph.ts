/**
 * A parsed ONNX model as a small IR: nodes (op type, name, input and output
 * value names, attributes decoded to plain values), initializers (kept as
 * TensorProtos), graph inputs and outputs, and the default-domain opset. The
 * differentiator (grad/) reads it; `encodeModel` writes an IR back to bytes.
 * Parsing refuses what the differentiator cannot take: subgraphs (If, Loop,
 * Scan), other operator domains and opsets below 13, each with one line
 * naming what is wrong.
 */
import { onnx } from 'onnx-proto';

/** A decoded attribute: ints, floats and strings as plain values; a tensor as its proto. */
export type IrAttr = number | number[] | string | string[] | { float: number } | { floats: number[] } | { tensor: onnx.ITensorProto };

export interface IrNode {
  opType: string;
  /** the node's name, or "<opType> #<index>" where the file gives none */
  name: string;
  /** input value names; "" marks an omitted optional input */
  inputs: string[];
  outputs: string[];
  attrs: Record<string, IrAttr>;
}

export interface IrValue {
  name: string;
  /** ONNX TensorProto element type (1 float32, 7 int64, 9 bool), undefined where the file gives none */
  elemType?: number;
  /** declared dims: a number, a symbolic name, or null where unknown */
  dims?: (number | string | null)[];
}

export interface OnnxIr {
  nodes: IrNode[];
  initializers: Map<string, onnx.ITensorProto>;
  /** graph inputs that are not initializers, in graph order */
  inputs: IrValue[];
  outputs: IrValue[];
  /** the default-domain opset version */
  opset: number;
  irVersion: number;
}

/** A model the differentiator cannot read: the message names the file's problem. */
export class OnnxModelError extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'OnnxModelError';
  }
}

export const FLOAT = onnx.TensorProto.DataType.FLOAT;
export const INT64 = onnx.TensorProto.DataType.INT64;
export const BOOL = onnx.TensorProto.DataType.BOOL;

/** The lowest opset read: ReduceSum, Split, Squeeze, Unsqueeze and Clip take their axes and bounds as inputs from 13 on. */
export const MIN_OPSET = 13;

const num = (v: number | { toNumber(): number } | null | undefined): number => (v === null || v === undefined ? 0 : typeof v === 'number' ? v : v.toNumber());

function decodeAttr(a: onnx.IAttributeProto, where: string): IrAttr | undefined {
  const T = onnx.AttributeProto.AttributeType;
  switch (a.type) {
    case T.INT:
      return num(a.i as number);
    case T.INTS:
      return (a.ints ?? []).map((v) => num(v as number));
    case T.FLOAT:
      return { float: a.f ?? 0 };
    case T.FLOATS:
      return { floats: [...(a.floats ?? [])] };
    case T.STRING:
      return new TextDecoder().decode(a.s ?? new Uint8Array());
    case T.STRINGS:
      return (a.strings ?? []).map((s) => new TextDecoder().decode(s));
    case T.TENSOR:
      return { tensor: a.t as onnx.ITensorProto };
    case T.GRAPH:
    case T.GRAPHS:
      throw new OnnxModelError(`${where} holds a subgraph (control flow such as If/Loop/Scan is not supported)`);
    default:
      return undefined;
  }
}

function irValue(v: onnx.IValueInfoProto): IrValue {
  const t = v.type?.tensorType;
  return {
    name: v.name ?? '',
    elemType: t?.elemType ?? undefined,
    dims: t?.shape?.dim?.map((d) => (d.dimValue !== null && d.dimValue !== undefined && num(d.dimValue as number) > 0 ? num(d.dimValue as number) : d.dimParam ? d.dimParam : null)),
  };
}

/** Parses ModelProto bytes into the IR. */
export function parseModel(bytes: Uint8Array): OnnxIr {
  let m: onnx.ModelProto;
  try {
    m = onnx.ModelProto.decode(bytes);
  } catch (e) {
    throw new OnnxModelError(`not an ONNX ModelProto (${(e as Error).message.split('\n')[0]})`);
  }
  const g = m.graph;
  if (!g) throw new OnnxModelError('the model has no graph');
  const imports = m.opsetImport ?? [];
  const def = imports.find((o) => !o.domain || o.domain === 'ai.onnx');
  const opset = def ? num(def.version as number) : 0;
  if (opset < MIN_OPSET) throw new OnnxModelError(`the model imports opset ${opset}; opset ${MIN_OPSET} or later is supported (re-export it, e.g. torch.onnx.export(..., opset_version=13))`);
  const nodes: IrNode[] = (g.node ?? []).map((n, i) => {
    const name = n.name ? n.name : `${n.opType} #${i}`;
    if (n.domain && n.domain !== 'ai.onnx') throw new OnnxModelError(`node "${name}" is op ${n.opType} of domain "${n.domain}" (only the default ONNX domain is supported)`);
    const attrs: Record<string, IrAttr> = {};
    for (const a of n.attribute ?? []) {
      if (a.refAttrName) throw new OnnxModelError(`node "${name}" (${n.opType}) has a reference attribute`);
      const v = decodeAttr(a, `node "${name}" (${n.opType})`);
      if (v !== undefined) attrs[a.name ?? ''] = v;
    }
    return { opType: n.opType ?? '', name, inputs: [...(n.input ?? [])], outputs: [...(n.output ?? [])], attrs };
  });
  const initializers = new Map<string, onnx.ITensorProto>();
  for (const t of g.initializer ?? []) initializers.set(t.name ?? '', t);
  const inputs = (g.input ?? []).filter((v) => !initializers.has(v.name ?? '')).map(irValue);
  const outputs = (g.output ?? []).map(irValue);
  return { nodes, initializers, inputs, outputs, opset, irVersion: num(m.irVersion as number) };
}

function encodeAttr(name: string, v: IrAttr): onnx.IAttributeProto {
  const T = onnx.AttributeProto.AttributeType;
  if (typeof v === 'number') return { name, type: T.INT, i: v };
  if (typeof v === 'string') return { name, type: T.STRING, s: new TextEncoder().encode(v) };
  if (Array.isArray(v)) {
    if (v.every((x) => typeof x === 'string')) return { name, type: T.STRINGS, strings: (v as string[]).map((s) => new TextEncoder().encode(s)) };
    return { name, type: T.INTS, ints: v as number[] };
  }
  if ('float' in v) return { name, type: T.FLOAT, f: v.float };
  if ('floats' in v) return { name, type: T.FLOATS, floats: v.floats };
  return { name, type: T.TENSOR, t: v.tensor };
}

export function nodeProto(n: IrNode): onnx.INodeProto {
  return { opType: n.opType, name: n.name, input: n.inputs, output: n.outputs, attribute: Object.entries(n.attrs).map(([k, v]) => encodeAttr(k, v)) };
}

function valueProto(v: IrValue): onnx.IValueInfoProto {
  if (v.elemType === undefined) return { name: v.name };
  return {
    name: v.name,
    type: {
      tensorType: {
        elemType: v.elemType,
        shape: v.dims ? { dim: v.dims.map((d) => (typeof d === 'number' ? { dimValue: d } : typeof d === 'string' ? { dimParam: d } : {})) } : undefined,
      },
    },
  };
}

/** Serialises an IR (a graph output without elemType is written untyped; onnxruntime infers its type). */
export function encodeModel(ir: OnnxIr, name = 'graph'): Uint8Array {
  const model = onnx.ModelProto.create({
    irVersion: Math.max(ir.irVersion, 8),
    producerName: 'vicinal',
    producerVersion: '1',
    opsetImport: [{ domain: '', version: ir.opset }],
    graph: {
      name,
      node: ir.nodes.map(nodeProto),
      initializer: [...ir.initializers.values()],
      input: ir.inputs.map(valueProto),
      output: ir.outputs.map(valueProto),
    },
  });
  return onnx.ModelProto.encode(model).finish();
}

/** An initializer's values as numbers (int64, int32 or float), for attributes given as constant inputs. */
export function tensorValues(t: onnx.ITensorProto): number[] {
  const dt = t.dataType ?? 0;
  const raw = t.rawData && t.rawData.length > 0 ? t.rawData : null;
  if (dt === INT64) {
    if (raw) {
      const dv = new DataView(raw.buffer, raw.byteOffset, raw.byteLength);
      return Array.from({ length: raw.byteLength / 8 }, (_, i) => Number(dv.getBigInt64(i * 8, true)));
    }
    return (t.int64Data ?? []).map((v) => num(v as number));
  }
  if (dt === onnx.TensorProto.DataType.INT32) {
    if (raw) return Array.from(new Int32Array(raw.slice().buffer));
    return [...(t.int32Data ?? [])];
  }
  if (dt === FLOAT) {
    if (raw) return Array.from(new Float32Array(raw.slice().buffer));
    return [...(t.floatData ?? [])];
  }
  if (dt === onnx.TensorProto.DataType.DOUBLE) {
    if (raw) return Array.from(new Float64Array(raw.slice().buffer));
    return [...(t.doubleData ?? [])];
  }
  throw new OnnxModelError(`initializer "${t.name}" has element type ${dt}, where a number tensor is expected`);
}
