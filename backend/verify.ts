/**
 * The start-up guard: a backend computes vicinal's numbers only after its
 * forward ops (backend/conformance.ts) and its layer gradients
 * (backend/gradient-check.ts) agree with the cpu reference. Together they take
 * about 2 s on wasm, so every command that trains or attacks runs them.
 */
import { initBackend } from './select';
import { BackendChoice, BackendInfo } from '../contract/results';
import { checkGradients, GradientCheckReport } from './gradient-check';
import { checkOpConformance, OpConformanceReport } from './conformance';
import { onnxEngineEnabled } from './onnx/engine';
import { checkOnnxEngine, EngineCheckReport, StepReference } from './onnx/check';

export interface BackendVerification {
  backend: string;
  ops: OpConformanceReport;
  gradients: GradientCheckReport;
  /** The onnx engine's own check (backend/onnx/check.ts), when the engine is selected. */
  engine?: EngineCheckReport;
  ok: boolean;
  /** failing ops ("sign") then failing gradient kernels ("MaxPoolGrad") */
  failing: string[];
}

/**
 * Runs both checks on the current backend (the host tfjs backend under the onnx engine), and the engine's check when it is
 * selected; given the attacks' step reference (attacks/step-reference.ts, as `vicinal doctor` passes it), the engine's
 * check covers every attack step graph too.
 */
export async function verifyBackend(stepReference?: StepReference): Promise<BackendVerification> {
  const ops = await checkOpConformance();
  const gradients = await checkGradients();
  const engine = onnxEngineEnabled() ? await checkOnnxEngine(undefined, stepReference) : undefined;
  return {
    backend: engine ? `onnx (tfjs ops on ${gradients.backend})` : gradients.backend,
    ops,
    gradients,
    ...(engine ? { engine } : {}),
    ok: ops.ok && gradients.ok && (engine?.ok ?? true),
    failing: [...ops.failing.map((o) => `op ${o}`), ...gradients.failing.map((k) => `gradient ${k}`), ...(engine?.failing ?? []).map((k) => `onnx engine ${k}`)],
  };
}

/** Thrown by refuseDefectiveBackend: the backend computes wrong numbers. */
export class BackendDefectError extends Error {
  constructor(readonly verification: BackendVerification) {
    super(
      `backend "${verification.backend}" disagrees with the cpu reference (${verification.failing.join('; ')}); ` +
        `refusing to train or attack with it. Run "vicinal doctor" for the full tables, or choose another --backend.`,
    );
    this.name = 'BackendDefectError';
  }
}

/** Checks the current backend; throws a BackendDefectError naming what fails. */
export async function refuseDefectiveBackend(): Promise<BackendVerification> {
  const v = await verifyBackend();
  if (!v.ok) throw new BackendDefectError(v);
  return v;
}

/** Selects the backend and refuses it unless it passes both checks. */
export async function initVerifiedBackend(requested: BackendChoice): Promise<BackendInfo> {
  const info = await initBackend(requested);
  await refuseDefectiveBackend();
  return info;
}
