/**
 * The local-Lipschitz probe on the onnx engine (eval/probes.ts): its input
 * gradients go through the cross-entropy's step graph (kind "eval", one
 * engine call per gradient, the finite difference's two points in one call).
 * The probe's values must equal those of the tape path on the engine (step
 * graph disabled) within float rounding, with fewer engine calls.
 */
import test from 'ava';
import { engineClassifier, engineModelOf, releaseOnnxModel } from '../../backend/onnx/engine';
import { maxRel } from '../../backend/onnx/check';
import { setStepGraphEnabled } from '../../backend/onnx/step-graph';
import { firstOrderCheck, gradientNorms, localLipschitz, LipschitzResult } from '../../eval/probes';
import { buildModel } from '../../models/build';
import { Norm } from '../../contract/norms';
import { Rng } from '../../data/rng';
import { requireOnnxEngine, SMALL_ENGINE_SPECS, like } from '../backend/engine-setup';

test.before(requireOnnxEngine);

for (const [arch, spec] of SMALL_ENGINE_SPECS) {
  for (const norm of ['linf', 'l2'] as Norm[]) {
    test.serial(`${arch} ${norm}: the local-Lipschitz probe through the step graph equals the tape path on the engine (1e-5 relative), in fewer engine calls`, (t) => {
      const model = buildModel(spec, [28, 28, 1], 10, 7);
      const f = engineClassifier(like(model));
      const n = 10;
      const rng = new Rng(3);
      const x = Float32Array.from({ length: n * 784 }, () => rng.uniform());
      const y = Int32Array.from({ length: n }, (_, i) => i % 10);
      const eps = norm === 'linf' ? 0.05 : 1;
      const steps = 5;
      const runs = () => engineModelOf(f)?.runs ?? 0;
      const probe = (fast: boolean, method: 'auto' | 'finite-difference'): { r: LipschitzResult; calls: number } => {
        setStepGraphEnabled(fast);
        try {
          const r0 = runs();
          // batch 4: three batches, the last one short
          const r = localLipschitz(f, x, y, [28, 28, 1], 10, { lo: 0, hi: 1 }, eps, norm, { steps, method, batchSize: 4 });
          return { r, calls: runs() - r0 };
        } finally {
          setStepGraphEnabled(true);
        }
      };
      for (const method of ['finite-difference', 'auto'] as const) {
        const fast = probe(true, method);
        const slow = probe(false, method);
        t.log(
          `${arch} ${norm} ${method}: engine calls ${fast.calls} (step graph) vs ${slow.calls} (tape), max rel diff at the point ${maxRel(fast.r.atPoint, slow.r.atPoint).toExponential(1)}, of the max ${maxRel(fast.r.max, slow.r.max).toExponential(1)}`,
        );
        t.is(fast.r.method, 'finite-difference', 'double backprop cannot pass the engine');
        t.is(slow.r.method, 'finite-difference');
        t.true(maxRel(fast.r.atPoint, slow.r.atPoint) <= 1e-5, 'gradient norms at the points');
        t.true(maxRel(fast.r.max, slow.r.max) <= 1e-5, 'largest gradient norms in the ball');
        // the ascent moved: the maximum exceeds the value at the point somewhere (the comparison is not vacuous)
        t.true(fast.r.max.some((m, i) => m > fast.r.atPoint[i] * 1.001));
        // per batch: one call at each of steps + 1 iterates, one for each step's pair of displaced points
        const batches = Math.ceil(n / 4);
        const probeCheck = method === 'auto' ? 1 : 0; // auto's double-backprop try runs one forward before it throws
        t.is(fast.calls, batches * (2 * steps + 1) + probeCheck);
        t.is(slow.calls, batches * 2 * (3 * steps + 1) + probeCheck);
      }
      releaseOnnxModel(like(model));
      model.dispose();
    });
  }
}

test.serial('gradient norms (hard and soft targets) and the first-order check through the step graph equal the tape path on the engine, one engine call per batch', (t) => {
  const model = buildModel({ arch: 'mlp', hidden: [32, 16] }, [28, 28, 1], 10, 9);
  const f = engineClassifier(like(model));
  const n = 10;
  const rng = new Rng(4);
  const x = Float32Array.from({ length: n * 784 }, () => rng.uniform());
  const y = Int32Array.from({ length: n }, (_, i) => (3 * i) % 10);
  // soft rows (mixup-like): two classes 0.7 / 0.3
  const soft = new Float32Array(n * 10);
  for (let i = 0; i < n; i++) {
    soft[i * 10 + (i % 10)] += 0.7;
    soft[i * 10 + ((i + 3) % 10)] += 0.3;
  }
  const runs = () => engineModelOf(f)?.runs ?? 0;
  const both = <T>(fn: () => T): { fast: T; slow: T; calls: [number, number] } => {
    const r0 = runs();
    const fast = fn();
    const r1 = runs();
    setStepGraphEnabled(false);
    try {
      const slow = fn();
      return { fast, slow, calls: [r1 - r0, runs() - r1] };
    } finally {
      setStepGraphEnabled(true);
    }
  };
  for (const targets of [y, soft]) {
    const g = both(() => gradientNorms(f, x, [28, 28, 1], targets, 10, 4));
    for (const k of ['loss', 'l1', 'l2', 'linf'] as const) t.true(maxRel(g.fast[k], g.slow[k]) <= 1e-5, `${k}: ${maxRel(g.fast[k], g.slow[k])}`);
    t.true(
      g.fast.l1.every((v) => v > 0),
      'nonzero gradients (the comparison is not vacuous)',
    );
    t.deepEqual(g.calls, [3, 6], 'three batches: one call each, against a forward-save and a backward');
  }
  for (const norm of ['linf', 'l2'] as Norm[]) {
    const fo = both(() => firstOrderCheck(f, x, y, [28, 28, 1], 10, { lo: 0, hi: 1 }, norm === 'linf' ? 0.05 : 1, norm, 4));
    for (const k of ['predicted', 'predictedStep', 'measured'] as const) t.true(maxRel(fo.fast[k], fo.slow[k]) <= 1e-5, `${norm} ${k}: ${maxRel(fo.fast[k], fo.slow[k])}`);
    t.deepEqual(fo.calls, [6, 9], 'per batch: the step graph call and the forward at the FGSM point');
  }
  releaseOnnxModel(like(model));
  model.dispose();
});
