/**
 * Synchronous onnxruntime sessions.
 *
 * onnxruntime-node's public `InferenceSession.run` returns a promise, but the
 * native binding underneath it is synchronous: the package's own backend
 * (dist/backend.js) calls `binding.InferenceSession#run(feeds, fetches,
 * options)` inside a `setImmediate` and resolves the promise with its return
 * value, and dist/binding.d.ts describes it as "a simple synchronized
 * inference session object wrap". vicinal calls that binding directly, which
 * makes the engine synchronous like the tfjs code around it with no thread
 * hop and no copy beyond the one into ORT's input tensors. The package is
 * pinned to an exact version (package.json) because this is its internal
 * module; `vicinal doctor --backend onnx` and test/backend/onnx.test.ts fail
 * loudly if a future version changes it. (The alternative, a worker thread
 * that owns async sessions while the main thread blocks in Atomics.wait on a
 * SharedArrayBuffer, is what to build if the binding ever becomes async; it
 * was not built, so its per-call cost was not measured.)
 */
import * as path from 'path';
import { UsageError } from '../../contract/errors';
import { GraphBuilder } from './proto';

export type OrtElem = 'float32' | 'int64' | 'bool';
export type OrtData = Float32Array | BigInt64Array | Uint8Array;

/** What ORT hands back: a tensor with its data in a JS typed array. */
export interface OrtTensorLike {
  readonly type: string;
  readonly dims: readonly number[];
  readonly data: OrtData;
  dispose?(): void;
}

/** A graph input's or output's declared type and shape (dims the graph leaves symbolic are -1 or 0, named in symbolicDimensions). */
export interface OrtValueMetadata {
  name: string;
  isTensor?: boolean;
  /** ONNX TensorProto element type: 1 is float32. */
  type?: number;
  shape?: number[];
  symbolicDimensions?: string[];
}

interface NativeSession {
  loadModel(buffer: ArrayBuffer, byteOffset: number, byteLength: number, options: object): void;
  readonly inputMetadata: OrtValueMetadata[];
  readonly outputMetadata: OrtValueMetadata[];
  run(feeds: Record<string, unknown>, fetches: Record<string, null>, options: object): Record<string, OrtTensorLike>;
  dispose(): void;
}

interface OrtModules {
  binding: { InferenceSession: new () => NativeSession };
  initOrt: () => void;
  Tensor: new (type: string, data: OrtData, dims: readonly number[]) => OrtTensorLike;
  version: string;
}

let modules: OrtModules | null = null;
let loadError: string | null = null;

/** Loads onnxruntime-node once; null (with the reason in ortLoadError()) when it is not installed or does not load. */
export function loadOrt(): OrtModules | null {
  if (modules || loadError) return modules;
  try {
    // eslint-disable-next-line @typescript-eslint/no-require-imports
    const b = require('onnxruntime-node/dist/binding') as { binding: OrtModules['binding']; initOrt: () => void };
    // eslint-disable-next-line @typescript-eslint/no-require-imports
    const common = require('onnxruntime-node') as { Tensor: OrtModules['Tensor']; env: { logLevel?: string } };
    // eslint-disable-next-line @typescript-eslint/no-require-imports
    const pkg = require(path.join(path.dirname(require.resolve('onnxruntime-node')), '..', 'package.json')) as { version: string };
    if (typeof b.binding?.InferenceSession !== 'function' || typeof b.initOrt !== 'function') {
      throw new Error('onnxruntime-node/dist/binding no longer exports a synchronous InferenceSession');
    }
    // ORT's native logger prints coloured multi-line records to stderr that repeat
    // the errors vicinal already reports in one line; VICINAL_ORT_LOG_LEVEL
    // (verbose, info, warning, error, fatal) brings them back for debugging.
    common.env.logLevel = process.env.VICINAL_ORT_LOG_LEVEL ?? 'fatal';
    b.initOrt();
    modules = { binding: b.binding, initOrt: b.initOrt, Tensor: common.Tensor, version: pkg.version };
  } catch (e) {
    loadError = e instanceof Error ? e.message.split('\n')[0] : String(e);
  }
  return modules;
}

export function ortLoadError(): string | null {
  loadOrt();
  return loadError;
}

/** Intra-op threads per session: 1 by default (vicinal parallelises over worker processes); VICINAL_ORT_THREADS overrides. */
export function ortThreads(): number {
  const v = Number(process.env.VICINAL_ORT_THREADS ?? 1);
  return Number.isInteger(v) && v >= 1 ? v : 1;
}

/**
 * The execution providers the engine can be pointed at with VICINAL_ORT_EP.
 * cpu ships inside the onnxruntime-node npm tarball; cuda needs the CUDA
 * provider libraries, which onnxruntime-node's install script downloads only
 * when asked (docs/engine.md says how). No silent fallback: a session that
 * cannot start on the chosen provider is an error, so a result that records
 * cuda ran on cuda.
 */
export const ORT_EXECUTION_PROVIDERS = ['cpu', 'cuda'] as const;
export type OrtExecutionProvider = (typeof ORT_EXECUTION_PROVIDERS)[number];

/** The engine's execution provider: VICINAL_ORT_EP, default cpu; any other value is a UsageError naming the allowed ones. */
export function ortExecutionProvider(env: NodeJS.ProcessEnv = process.env): OrtExecutionProvider {
  const v = env.VICINAL_ORT_EP ?? 'cpu';
  if (!(ORT_EXECUTION_PROVIDERS as readonly string[]).includes(v)) {
    throw new UsageError(`VICINAL_ORT_EP must be one of ${ORT_EXECUTION_PROVIDERS.join(', ')}, got "${v}"`);
  }
  return v as OrtExecutionProvider;
}

/** One loaded graph, run synchronously. */
export class SyncSession {
  private native: NativeSession | null;
  private readonly ort: OrtModules;
  readonly inputNames: string[];
  readonly outputNames: string[];
  /** Declared types and shapes of the graph's inputs and outputs, in graph order. */
  readonly inputMetadata: OrtValueMetadata[];
  readonly outputMetadata: OrtValueMetadata[];

  constructor(model: Uint8Array, threads = ortThreads()) {
    const ort = loadOrt();
    if (!ort) throw new Error(`onnx engine: onnxruntime-node is not available (${loadError})`);
    this.ort = ort;
    this.native = new ort.binding.InferenceSession();
    const ep = ortExecutionProvider();
    try {
      this.native.loadModel(model.buffer as ArrayBuffer, model.byteOffset, model.byteLength, {
        intraOpNumThreads: threads,
        interOpNumThreads: 1,
        graphOptimizationLevel: 'all',
        executionMode: 'sequential',
        executionProviders: [{ name: ep }],
        enableCpuMemArena: true,
        enableMemPattern: true,
      });
    } catch (e) {
      if (ep === 'cpu') throw e;
      const why = (e instanceof Error ? e.message : String(e)).split('\n')[0];
      throw new UsageError(`onnx engine: execution provider "${ep}" (VICINAL_ORT_EP) did not start: ${why}; install onnxruntime-node's ${ep} build (docs/engine.md) or unset VICINAL_ORT_EP`);
    }
    this.inputMetadata = this.native.inputMetadata.map((m) => ({ ...m }));
    this.outputMetadata = this.native.outputMetadata.map((m) => ({ ...m }));
    this.inputNames = this.native.inputMetadata.map((m) => m.name);
    this.outputNames = this.native.outputMetadata.map((m) => m.name);
  }

  /** Runs the graph; `feeds` maps every input name to [data, dims]. Returns every output's data and dims. */
  run(feeds: Record<string, [OrtData, readonly number[]]>): Record<string, { data: OrtData; dims: number[] }> {
    if (!this.native) throw new Error('onnx engine: session used after dispose');
    const f: Record<string, unknown> = {};
    for (const name of this.inputNames) {
      const v = feeds[name];
      if (!v) throw new Error(`onnx engine: missing graph input "${name}"`);
      const [data, dims] = v;
      const type = data instanceof Float32Array ? 'float32' : data instanceof BigInt64Array ? 'int64' : 'bool';
      f[name] = new this.ort.Tensor(type, data, dims);
    }
    const fetches: Record<string, null> = {};
    for (const name of this.outputNames) fetches[name] = null;
    const out = this.native.run(f, fetches, {});
    const result: Record<string, { data: OrtData; dims: number[] }> = {};
    for (const name of this.outputNames) {
      const t = out[name];
      result[name] = { data: t.data, dims: [...t.dims] };
    }
    return result;
  }

  dispose(): void {
    this.native?.dispose();
    this.native = null;
  }

  get disposed(): boolean {
    return this.native === null;
  }
}

/**
 * Starts and drops a one-node session on the configured execution provider,
 * so that a provider that cannot start fails at backend selection with one
 * line, not in the middle of a job.
 */
export function probeSession(): void {
  if (ortExecutionProvider() === 'cpu') return;
  const b = new GraphBuilder('probe');
  b.output(b.op('Relu', [b.input('x', 'float32', [1])]), 'y', 'float32', [1]);
  new SyncSession(b.encode()).dispose();
}
