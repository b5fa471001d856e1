/**
 * The onnx engine: a TF.js Layers model's forward pass and gradients run by
 * onnxruntime (CPU, its MLAS kernels) instead of tfjs kernels, behind the
 * same `Classifier` type (x -> logits) that attacks, probes and evaluation
 * already take. Everything around the network (losses, attack steps,
 * projections, optimizers) stays tfjs code on the host tfjs backend.
 *
 * How a call works: the classifier is a tfjs op with a custom gradient
 * (`engine.runKernelFunc` with a forward and a backwards function, as
 * tf.customGrad does, but with per-input lazy gradients). Its forward reads x
 * (dataSync), runs the ONNX forward graph synchronously (runtime.ts) and
 * returns the logits as a tfjs tensor. When a gradient tape is recording, it
 * runs the "save" graph instead, which also returns the residuals the
 * backward needs (relu masks, pooling argmax indices; layer inputs in train
 * mode); they stay in JS memory in the op's closure, never as tfjs tensors,
 * and are released with the tape. The backward graph takes them, the
 * weights and dLogits, and returns dx (attacks, probes) or the weight
 * gradients (training). Both come from the graph differentiator
 * (grad/own-model.ts) applied to the compiler's forward graph: the split of
 * its forward + backward at the residuals. A save run remembers whether it
 * ran the baked graphs, and its backward runs their pair.
 *
 * Weights are read from the model's variables at each call, but only copied
 * when a variable's data changed (an optimizer step or setWeights assigns new
 * data, which tfjs marks with a new dataId), so attacks pay nothing for them.
 * Once the weights have stayed the same for BAKE_AFTER attack-mode calls in a
 * row, the attack-mode graphs are rebuilt with the weights baked in as
 * initializers (ORT then rewrites Conv into its faster blocked-layout
 * kernel); any change of a weight drops those sessions and the graphs with
 * weights as inputs serve again.
 *
 * Two classifiers per model:
 *  - attack mode (`engineClassifier`): weights are constants, the only
 *    gradient is dx; this is what `asClassifier` returns while the engine is
 *    selected.
 *  - train mode (`engineTrainClassifier`): the weight variables are inputs of
 *    the op, so `optimizer.minimize` / `tf.variableGrads` get dW from the
 *    engine; there is no dx (asking for it throws).
 * Second-order gradients (a gradient of a gradient) cannot go through the
 * engine: the backward op is not itself differentiable, so it throws instead
 * of silently returning zero curvature.
 */
import * as tf from '@tensorflow/tfjs';
import { compileModel, CompiledModel, LayersModelLike, Mode, UnsupportedModelError } from './compile';
import type { DifferentiatedModel } from './grad/differentiate';
import { differentiateCompiled } from './grad/own-model';
import { OrtData, SyncSession } from './runtime';

interface EngineInternals {
  state: { gradientDepth: number; kernelDepth: number };
  runKernelFunc(params: {
    forwardFunc: (backend: unknown, save: unknown) => tf.Tensor;
    backwardsFunc: (dy: tf.Tensor) => Record<string, () => tf.Tensor>;
    inputs: Record<string, tf.Tensor>;
  }): tf.Tensor;
}

const internals = (): EngineInternals => tf.engine() as unknown as EngineInternals;

let enabled = false;

/** Routes asClassifier through the engine (set by backend selection). */
export function setOnnxEngineEnabled(on: boolean): void {
  enabled = on;
}

export function onnxEngineEnabled(): boolean {
  return enabled;
}

type Residuals = Record<string, [OrtData, readonly number[]]>;

/** What a save run keeps for its backward: the residual feeds, and whether they came from the baked graphs (the backward must be their pair). */
export interface Saved {
  feeds: Residuals;
  baked: boolean;
}

/** Attack-mode calls with unchanged weights after which the attack-mode graphs get the weights baked in. */
export const BAKE_AFTER = 8;

type AttackKey = 'forward' | 'save-input' | 'backward-input';

/** A compiled model with its sessions (created on first use) and its weight cache. */
export class OnnxModel {
  readonly compiled: CompiledModel;
  private readonly sessions = new Map<string, SyncSession>();
  private readonly cache: { dataId: object | null; data: Float32Array | null }[];
  private disposed = false;
  /** ORT runs made, for tests and the leak check */
  runs = 0;
  /** ORT runs made on sessions with the weights baked in (a subset of runs) */
  bakedRuns = 0;
  /**
   * Rows through the network in attack mode, by kind of pass: `forward`
   * (logits only) and `gradient` (a backward to the input, or one step-graph
   * call: forward and backward in one run). A save run is counted by the
   * backward that follows it. bench/attack-overhead.ts reads them.
   */
  readonly passRows = { forward: 0, gradient: 0 };
  /** Bumped whenever a weight copy is refreshed (its variable got new data). */
  private weightVersion = 0;
  private lastAttackVersion = -1;
  private stableAttackCalls = 0;
  private bakedVersion = -1;

  constructor(readonly model: LayersModelLike) {
    this.compiled = compileModel(model);
    this.cache = this.compiled.weights.map(() => ({ dataId: null, data: null }));
  }

  /** The differentiated forward graph of `mode` (save + backward split); `baked`: with the current weight copies as initializers. */
  private readonly diffs = new Map<string, DifferentiatedModel>();
  private diff(mode: Mode, baked: boolean): DifferentiatedModel {
    const key = `${mode}-${baked}`;
    let d = this.diffs.get(key);
    if (!d) {
      d = differentiateCompiled(this.compiled, mode, baked ? this.cache.map((c) => c.data as Float32Array) : undefined);
      this.diffs.set(key, d);
    }
    return d;
  }

  /** The graph bytes of a session: the compiler's forward, or the differentiator's save/backward graphs. */
  private graph(key: 'forward' | `save-${Mode}` | `backward-${Mode}`, baked: boolean): Uint8Array {
    if (key === 'forward') {
      const g = this.compiled.forward();
      if (baked) this.compiled.weights.forEach((w, i) => (g.consumes(w.name) ? g.bake(w.name, this.cache[i].data as Float32Array, w.shape) : undefined));
      return g.encode();
    }
    const split = this.diff((key.startsWith('save') ? key.slice(5) : key.slice(9)) as Mode, baked).split;
    return key.startsWith('save') ? split.save : split.backward;
  }

  private session(key: 'forward' | `save-${Mode}` | `backward-${Mode}`): SyncSession {
    if (this.disposed) throw new Error(`onnx engine: model "${this.compiled.modelName}" was released`);
    let s = this.sessions.get(key);
    if (!s) {
      s = new SyncSession(this.graph(key, false));
      this.sessions.set(key, s);
    }
    return s;
  }

  /** `key`'s graph with the current weight copies as initializers (weightFeeds() must have run). */
  private bakedSession(key: AttackKey): SyncSession {
    if (this.disposed) throw new Error(`onnx engine: model "${this.compiled.modelName}" was released`);
    let s = this.sessions.get(`baked-${key}`);
    if (!s) {
      s = new SyncSession(this.graph(key, true));
      this.sessions.set(`baked-${key}`, s);
    }
    return s;
  }

  private dropBaked(): void {
    this.diffs.delete('input-true');
    for (const k of [...this.sessions.keys()]) {
      if (!k.startsWith('baked-')) continue;
      this.sessions.get(k)?.dispose();
      this.sessions.delete(k);
    }
  }

  /**
   * The session for an attack-mode call and its weight feeds: the graph with
   * weights as inputs until the weights have been unchanged for BAKE_AFTER
   * attack-mode calls, then the graph with them baked in (rebuilt after any change).
   */
  private attackSession(key: AttackKey): { session: SyncSession; feeds: Residuals; baked: boolean } {
    const feeds = this.weightFeeds();
    if (this.weightVersion === this.lastAttackVersion) this.stableAttackCalls++;
    else {
      this.lastAttackVersion = this.weightVersion;
      this.stableAttackCalls = 0;
    }
    if (this.bakedVersion !== this.weightVersion) {
      this.dropBaked();
      this.bakedVersion = -1;
    }
    if (this.stableAttackCalls < BAKE_AFTER) return { session: this.session(key), feeds, baked: false };
    this.bakedVersion = this.weightVersion;
    // the feeds still name every weight: the session reads only its remaining (unused) weight inputs
    return { session: this.bakedSession(key), feeds, baked: true };
  }

  /** Weight feeds in TF.js layout, copied from the variables only when their data changed. */
  weightFeeds(): Residuals {
    const feeds: Residuals = {};
    this.compiled.weights.forEach((w, i) => {
      const v = this.model.layers[w.layerIndex].weights[w.weightIndex].read();
      const c = this.cache[i];
      if (c.dataId !== v.dataId || !c.data) {
        c.data = v.dataSync() as Float32Array;
        c.dataId = v.dataId;
        this.weightVersion++;
      }
      feeds[w.name] = [c.data, w.shape];
    });
    return feeds;
  }

  /** The weight variables, in the order of compiled.weights. */
  weightVariables(): tf.Tensor[] {
    return this.compiled.weights.map((w) => this.model.layers[w.layerIndex].weights[w.weightIndex].read() as unknown as tf.Tensor);
  }

  /**
   * Moves each BatchNorm's moving mean and variance towards a training batch's statistics exactly as
   * tfjs's BatchNormalization layer does in training mode (same ops, same order):
   * moving <- moving - (moving - batch) * (1 - momentum).
   */
  updateMovingStatistics(stats: { mean: Float32Array; variance: Float32Array }[]): void {
    tf.tidy(() => {
      this.compiled.bns.forEach((bn, i) => {
        const update = (slot: number, value: Float32Array) => {
          const w = this.compiled.weights[slot];
          const variable = this.model.layers[w.layerIndex].weights[w.weightIndex] as unknown as { read(): tf.Tensor; write(v: tf.Tensor): void };
          const orig = variable.read();
          variable.write(tf.sub(orig, tf.mul(tf.sub(orig, tf.tensor(value, orig.shape)), 1 - bn.momentum)));
        };
        update(bn.movingMean, stats[i].mean);
        update(bn.movingVariance, stats[i].variance);
      });
    });
  }

  /** The session and weight feeds of a call: attack-mode graphs may have the weights baked in. */
  private pick(key: 'forward' | `save-${Mode}`): { session: SyncSession; feeds: Residuals; baked: boolean } {
    this.runs++;
    if (key === 'forward' || key === 'save-input') {
      const r = this.attackSession(key);
      if (r.baked) this.bakedRuns++;
      return r;
    }
    return { session: this.session(key), feeds: this.weightFeeds(), baked: false };
  }

  forward(x: Float32Array, n: number): Float32Array {
    const { session, feeds } = this.pick('forward');
    this.passRows.forward += n;
    const out = session.run({ x: [x, [n, ...this.compiled.inputShape]], ...feeds });
    return out.logits.data as Float32Array;
  }

  /**
   * Forward that also returns what `mode`'s backward reads (the differentiator's residuals, and x where the backward reads it);
   * in mode "train", BatchNorm normalises with the batch's statistics and `bnStats` holds each BN layer's batch mean and variance.
   */
  forwardSave(x: Float32Array, n: number, mode: Mode): { logits: Float32Array; residuals: Saved; bnStats: { mean: Float32Array; variance: Float32Array }[] } {
    const { session, feeds, baked } = this.pick(`save-${mode}`);
    const dims = [n, ...this.compiled.inputShape];
    const out = session.run({ x: [x, dims], ...feeds });
    const split = this.diff(mode, baked).split;
    const residuals: Residuals = {};
    for (const r of split.residuals) residuals[r] = [out[r].data, out[r].dims];
    if (split.backwardInputs.includes('x')) residuals.x = [x, dims];
    const bnStats = mode === 'train' ? this.compiled.bnStats.map((s) => ({ mean: out[s.mean].data as Float32Array, variance: out[s.variance].data as Float32Array })) : [];
    return { logits: out.logits.data as Float32Array, residuals: { feeds: residuals, baked }, bnStats };
  }

  /** dx (mode input) or the weight gradients (mode train, keyed d_w<i>), from the backward graph paired with the save run. */
  backward(saved: Saved, dlogits: Float32Array, n: number, mode: Mode): Record<string, Float32Array> {
    this.runs++;
    const feeds = this.weightFeeds();
    const session = saved.baked ? this.bakedSession(`backward-${mode}` as AttackKey) : this.session(`backward-${mode}`);
    if (saved.baked) this.bakedRuns++;
    const d = this.diff(mode, saved.baked);
    const out = session.run({ ...saved.feeds, ...feeds, [d.seed]: [dlogits, [n, this.compiled.numClasses]] });
    if (mode === 'input') {
      this.passRows.gradient += n;
      return { dx: out[d.gradients.x].data as Float32Array };
    }
    const r: Record<string, Float32Array> = {};
    this.compiled.weights.forEach((w, i) => {
      if (w.trainable) r[this.compiled.weightGradNames[i]] = out[d.gradients[w.name]].data as Float32Array;
    });
    return r;
  }

  /** Releases the ORT sessions and the weight copies; later calls throw. */
  dispose(): void {
    for (const s of this.sessions.values()) s.dispose();
    this.sessions.clear();
    for (const c of this.cache) {
      c.data = null;
      c.dataId = null;
    }
    this.disposed = true;
  }

  get sessionCount(): number {
    return this.sessions.size;
  }

  /** Bumped whenever weightFeeds() found a variable with new data (call weightFeeds() first). */
  get weightsVersion(): number {
    return this.weightVersion;
  }

  /**
   * A session of a graph built outside this class (the attack step graphs,
   * step-graph.ts), kept with this model's sessions so that dispose() and the
   * leak check cover it. `build` runs only when `key` has no session yet; a
   * session whose key starts with `stalePrefix` but differs from `key` is
   * released first (an older weight version's graph).
   */
  ownedSession(key: string, stalePrefix: string, build: () => Uint8Array): SyncSession {
    if (this.disposed) throw new Error(`onnx engine: model "${this.compiled.modelName}" was released`);
    const full = `owned-${key}`;
    let s = this.sessions.get(full);
    if (s) return s;
    for (const k of [...this.sessions.keys()]) {
      if (k.startsWith(`owned-${stalePrefix}`) && k !== full) {
        this.sessions.get(k)?.dispose();
        this.sessions.delete(k);
      }
    }
    s = new SyncSession(build());
    this.sessions.set(full, s);
    return s;
  }
}

/** The engine model behind each attack-mode classifier (what lets an attack ask for a step graph). */
const classifierModels = new WeakMap<object, OnnxModel>();

/** The engine model of an attack-mode classifier made by engineClassifier, else undefined (any other classifier). */
export function engineModelOf(f: unknown): OnnxModel | undefined {
  return typeof f === 'function' ? classifierModels.get(f) : undefined;
}

const models = new WeakMap<object, OnnxModel>();
const live = new Set<WeakRef<OnnxModel>>();
const finalizer = new FinalizationRegistry<OnnxModel>((m) => m.dispose());

/** The engine's compiled form of `model` (compiled once per model object). */
export function onnxModelFor(model: LayersModelLike): OnnxModel {
  let m = models.get(model);
  if (!m) {
    m = new OnnxModel(model);
    models.set(model, m);
    live.add(new WeakRef(m));
    // Sessions go when the model object is collected; releaseOnnxModel releases them at once.
    finalizer.register(model, m, m);
  }
  return m;
}

/** Releases the engine's sessions for `model` now (also done when the model is garbage-collected). */
export function releaseOnnxModel(model: LayersModelLike): void {
  const m = models.get(model);
  if (!m) return;
  m.dispose();
  finalizer.unregister(m);
  models.delete(model);
}

/** Live engine sessions over every model (the leak check reads it). */
export function liveOnnxSessions(): number {
  let n = 0;
  for (const r of live) {
    const m = r.deref();
    if (!m) live.delete(r);
    else n += m.sessionCount;
  }
  return n;
}

function tapeRecording(): boolean {
  const s = internals().state;
  return s.gradientDepth > 0 && s.kernelDepth === 0;
}

function secondOrderError(): Error {
  return new Error('onnx engine: a gradient of a gradient (double backprop) cannot pass through the engine; use a finite-difference method or another --backend');
}

/** x as a float32 array and the batch size. */
function readInput(m: OnnxModel, x: tf.Tensor): { data: Float32Array; n: number } {
  const want = m.compiled.inputShape;
  if (x.shape.length !== want.length + 1 || x.shape.slice(1).some((d, i) => d !== want[i])) {
    throw new Error(`onnx engine: model "${m.compiled.modelName}" takes [batch, ${want.join(', ')}], got [${x.shape.join(', ')}]`);
  }
  const data = (x.dtype === 'float32' ? x.dataSync() : x.toFloat().dataSync()) as Float32Array;
  return { data, n: x.shape[0] };
}

/**
 * Attack mode: x -> logits through the engine; the only gradient is dx.
 * Throws UnsupportedModelError (one line naming the layer) for a model outside the family.
 */
export function engineClassifier(model: LayersModelLike): (x: tf.Tensor) => tf.Tensor2D {
  const m = onnxModelFor(model);
  const k = m.compiled.numClasses;
  const f = (x: tf.Tensor): tf.Tensor2D => {
    const taping = tapeRecording();
    let residuals: Saved | null = null;
    let n = 0;
    return internals().runKernelFunc({
      inputs: { x },
      forwardFunc: () => {
        const r = readInput(m, x);
        n = r.n;
        if (!taping) return tf.tensor2d(m.forward(r.data, n), [n, k]);
        const s = m.forwardSave(r.data, n, 'input');
        residuals = s.residuals;
        return tf.tensor2d(s.logits, [n, k]);
      },
      backwardsFunc: (dy: tf.Tensor) => ({
        x: () => {
          if (internals().state.gradientDepth > 0) throw secondOrderError();
          if (!residuals) throw new Error('onnx engine: gradient requested for a forward pass run without a tape');
          const dx = m.backward(residuals, dy.dataSync() as Float32Array, n, 'input').dx;
          return tf.tensor(dx, x.shape);
        },
      }),
    }) as tf.Tensor2D;
  };
  classifierModels.set(f, m);
  return f;
}

/**
 * Train mode: x -> logits with the model's weight variables as inputs of the
 * op, so tf.variableGrads / optimizer.minimize receive the engine's weight
 * gradients (all of them from one backward run).
 */
export function engineTrainClassifier(model: LayersModelLike): (x: tf.Tensor) => tf.Tensor2D {
  for (const layer of model.layers) {
    if (layer.getClassName() === 'Dropout' && Number(layer.getConfig().rate ?? 0) > 0) {
      throw new UnsupportedModelError(`onnx engine: layer "${layer.name}" (Dropout, rate ${String(layer.getConfig().rate)}) is not supported in training (the engine has no dropout)`);
    }
  }
  const m = onnxModelFor(model);
  const k = m.compiled.numClasses;
  return (x: tf.Tensor): tf.Tensor2D => {
    const taping = tapeRecording();
    const vars = m.weightVariables();
    const inputs: Record<string, tf.Tensor> = { x };
    vars.forEach((v, i) => (m.compiled.weights[i].trainable ? (inputs[m.compiled.weights[i].name] = v) : undefined));
    let residuals: Saved | null = null;
    let n = 0;
    let grads: Record<string, Float32Array> | null = null;
    let bnStats: { mean: Float32Array; variance: Float32Array }[] = [];
    const logits = internals().runKernelFunc({
      inputs,
      forwardFunc: () => {
        const r = readInput(m, x);
        n = r.n;
        // Without BatchNorm the training forward is the inference one; with it, batch statistics (as tfjs's training: true).
        if (!taping && m.compiled.bns.length === 0) return tf.tensor2d(m.forward(r.data, n), [n, k]);
        const s = m.forwardSave(r.data, n, 'train');
        residuals = taping ? s.residuals : null;
        bnStats = s.bnStats;
        return tf.tensor2d(s.logits, [n, k]);
      },
      backwardsFunc: (dy: tf.Tensor) => {
        const fns: Record<string, () => tf.Tensor> = {
          x: () => {
            throw new Error('onnx engine: the train-mode classifier has no input gradient (use the attack-mode classifier)');
          },
        };
        m.compiled.weights.forEach((w, i) => {
          if (!w.trainable) return;
          fns[w.name] = () => {
            if (internals().state.gradientDepth > 0) throw secondOrderError();
            if (!grads) {
              if (!residuals) throw new Error('onnx engine: gradient requested for a forward pass run without a tape');
              grads = m.backward(residuals, dy.dataSync() as Float32Array, n, 'train');
              residuals = null;
            }
            return tf.tensor(grads[m.compiled.weightGradNames[i]], w.shape);
          };
        });
        return fns;
      },
    }) as tf.Tensor2D;
    // After the op (as tfjs's layer updates them during its training forward): the next call reads the new moving statistics.
    if (bnStats.length) m.updateMovingStatistics(bnStats);
    return logits;
  };
}
