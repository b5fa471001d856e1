/**
 * A small ONNX graph builder over `onnx-proto` (the generated protobufjs
 * classes of onnx.proto): nodes, attributes, constants, typed graph inputs and
 * outputs with a symbolic batch dimension, and the encoded ModelProto bytes.
 * No protobuf is packed by hand.
 */
import { onnx } from 'onnx-proto';

/** Opset 17: ScatterElements with reduction "add" (16), ReduceSum axes as an input (13). */
export const OPSET = 17;
/** IR version 8 (ONNX 1.10+): every ORT since 1.10 reads it. */
export const IR_VERSION = 8;

export type ElemType = 'float32' | 'int64' | 'bool';
const ELEM: Record<ElemType, number> = {
  float32: onnx.TensorProto.DataType.FLOAT,
  int64: onnx.TensorProto.DataType.INT64,
  bool: onnx.TensorProto.DataType.BOOL,
};

/** A dimension: a number, or a symbolic name such as "batch". */
export type Dim = number | string;

export type AttrValue = number | number[] | string | { floats: number[] } | { float: number };

function attribute(name: string, v: AttrValue): onnx.IAttributeProto {
  const T = onnx.AttributeProto.AttributeType;
  if (typeof v === 'string') return { name, type: T.STRING, s: new TextEncoder().encode(v) };
  if (typeof v === 'number') {
    if (!Number.isInteger(v)) throw new Error(`onnx builder: attribute ${name}=${v} must be an integer (use { float })`);
    return { name, type: T.INT, i: v };
  }
  if (Array.isArray(v)) return { name, type: T.INTS, ints: v };
  if ('floats' in v) return { name, type: T.FLOATS, floats: v.floats };
  return { name, type: T.FLOAT, f: v.float };
}

/** `shape` null: the rank is left unknown (onnxruntime infers it). */
function valueInfo(name: string, type: ElemType, shape: Dim[] | null): onnx.IValueInfoProto {
  return {
    name,
    type: {
      tensorType: {
        elemType: ELEM[type],
        shape: shape ? { dim: shape.map((d) => (typeof d === 'number' ? { dimValue: d } : { dimParam: d })) } : undefined,
      },
    },
  };
}

export interface GraphIO {
  name: string;
  type: ElemType;
  shape: Dim[] | null;
}

/** Builds one graph; value names are generated unique ("t12") unless given. */
export class GraphBuilder {
  private readonly nodes: onnx.INodeProto[] = [];
  private readonly initializers: onnx.ITensorProto[] = [];
  readonly inputs: GraphIO[] = [];
  readonly outputs: GraphIO[] = [];
  private counter = 0;

  /** `prefix` starts every generated name (the differentiator's names then never collide with an imported graph's). */
  constructor(
    readonly name: string,
    private readonly prefix = '',
  ) {}

  fresh(hint = 't'): string {
    return `${this.prefix}${hint}_${this.counter++}`;
  }

  /** The nodes and initializers added so far (the differentiator appends them to an imported graph). */
  parts(): { nodes: onnx.INodeProto[]; initializers: onnx.ITensorProto[] } {
    return { nodes: this.nodes, initializers: this.initializers };
  }

  input(name: string, type: ElemType, shape: Dim[]): string {
    this.inputs.push({ name, type, shape });
    return name;
  }

  /** Marks `value` as a graph output named `name` (an Identity node when the names differ). */
  output(value: string, name: string, type: ElemType, shape: Dim[] | null): void {
    if (value !== name) this.nodes.push({ opType: 'Identity', input: [value], output: [name], name: this.fresh('out') });
    this.outputs.push({ name, type, shape });
  }

  /** Adds a node; returns its output names (`outputs` of them). */
  node(opType: string, inputs: string[], attrs: Record<string, AttrValue> = {}, outputs = 1): string[] {
    const out = Array.from({ length: outputs }, () => this.fresh(opType.toLowerCase()));
    this.nodes.push({
      opType,
      input: inputs,
      output: out,
      name: this.fresh(`n_${opType}`),
      attribute: Object.entries(attrs).map(([k, v]) => attribute(k, v)),
    });
    return out;
  }

  /** One-output node. */
  op(opType: string, inputs: string[], attrs: Record<string, AttrValue> = {}): string {
    return this.node(opType, inputs, attrs, 1)[0];
  }

  /** An int64 constant tensor (shapes, axes, slice bounds). */
  int64(values: number[], dims: number[] = [values.length]): string {
    const name = this.fresh('i64');
    this.initializers.push({ name, dataType: ELEM.int64, dims, int64Data: values });
    return name;
  }

  /** A float32 constant (from a Float32Array: stored as raw little-endian bytes). */
  float32(values: Float32Array | number[], dims: number[], name = this.fresh('f32')): string {
    const data = values instanceof Float32Array ? values : Float32Array.from(values);
    const raw = new Uint8Array(data.buffer.slice(data.byteOffset, data.byteOffset + data.byteLength));
    this.initializers.push({ name, dataType: ELEM.float32, dims, rawData: raw });
    return name;
  }

  /** Whether some node reads `name` (a graph input the graph does not use can be left out of baking). */
  consumes(name: string): boolean {
    return this.nodes.some((n) => (n.input ?? []).includes(name));
  }

  /** Turns a graph input into an initializer holding `values` (export: weights baked in). */
  bake(inputName: string, values: Float32Array, dims: number[]): void {
    const i = this.inputs.findIndex((v) => v.name === inputName);
    if (i < 0) throw new Error(`onnx builder: no graph input "${inputName}"`);
    this.inputs.splice(i, 1);
    this.float32(values, dims, inputName);
  }

  /** The serialized ModelProto. */
  encode(docString = '', opset = OPSET): Uint8Array {
    const model = onnx.ModelProto.create({
      irVersion: IR_VERSION,
      producerName: 'vicinal',
      producerVersion: '1',
      docString,
      opsetImport: [{ domain: '', version: opset }],
      graph: {
        name: this.name,
        node: this.nodes,
        initializer: this.initializers,
        input: this.inputs.map((v) => valueInfo(v.name, v.type, v.shape)),
        output: this.outputs.map((v) => valueInfo(v.name, v.type, v.shape)),
      },
    });
    return onnx.ModelProto.encode(model).finish();
  }
}
