/** The types shared by the differentiator and its rules (a file of its own, so the two do not import each other). */
import type { IrNode } from '../graph';
import type { GraphBuilder } from '../proto';

/** A probed dim: its size, or null where it depends on the batch size. */
export type ProbedDim = number | null;

/** What a rule sees of its node and the graph. */
export interface RuleContext {
  readonly node: IrNode;
  /** emits backward nodes (names never collide with the forward's) */
  readonly b: GraphBuilder;
  /** the cotangent of each output (null where the output does not reach the loss) */
  readonly gy: (string | null)[];
  /** which inputs need a gradient */
  readonly needs: boolean[];
  /** the probed shape of a forward value */
  shape(value: string): ProbedDim[];
  /** a static dim of a forward value (a one-line error naming the node where it depends on the batch) */
  staticDims(value: string, from?: number): number[];
  /** an integer attribute, ints attribute, float attribute or string attribute, else `def` */
  int(name: string, def: number): number;
  ints(name: string, def: number[]): number[];
  float(name: string, def: number): number;
  str(name: string, def: string): string;
  /** a float32 scalar constant */
  scalar(v: number): string;
  /** sums `g` (a value of shape `from`) down to the broadcast input `x` */
  unbroadcast(g: string, from: ProbedDim[], x: string): string;
  /** throws UnsupportedOpError naming the node */
  refuse(why: string): never;
  /** the node producing a value (undefined for inputs and initializers) and the nodes reading it */
  producer(value: string): IrNode | undefined;
  consumers(value: string): IrNode[];
  /** whether a value is a graph output or a wrt value (its cotangent has other sources than its consumers) */
  isEndpoint(value: string): boolean;
  /**
   * Lets an earlier node's gradient pass through unchanged (output 0 to input 0): for a rule that has
   * already applied that node's effect, e.g. a relu's mask applied at a max pool's pooled size.
   */
  bypass(node: IrNode): void;
}

/** A gradient rule: one gradient value per input (null where it has none or none is needed). */
export interface GradRule {
  /** rewrites the forward node before the graph is built (e.g. MaxPool also returning its argmax) */
  prepare?: (node: IrNode) => IrNode;
  backward: (ctx: RuleContext) => (string | null)[];
}
