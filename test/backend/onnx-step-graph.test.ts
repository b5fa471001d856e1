/**
 * The engine's attack step graph (backend/onnx/step-graph.ts): one graph per
 * iteration (forward, loss, backward, step, projection, bounds) must equal
 * the tfjs cpu reference of the same iteration, and PGD through it must give
 * the per-example outcomes of the tfjs-tape path on the engine.
 */
import test from 'ava';
import * as tf from '@tensorflow/tfjs';
import { engineClassifier, engineModelOf, releaseOnnxModel } from '../../backend/onnx/engine';
import { maxRel } from '../../backend/onnx/check';
import { setStepGraphEnabled, STEP_LOSSES, Stepper } from '../../backend/onnx/step-graph';
import { createAttack } from '../../attacks/registry';
import { project, steepestDirection } from '../../attacks/types';
import { crossEntropyPerExample, dlrLoss, dlrTargetedLoss, marginLoss } from '../../attacks/losses';
import { loadDataset } from '../../data/registry';
import { Rng } from '../../data/rng';
import { buildModel, ModelSpec } from '../../models/build';
import { erm } from '../../models/schemes/erm';
import { trainModel } from '../../models/train';
import { Norm } from '../../contract/norms';
import { onCpu } from './on-cpu';
import { requireOnnxEngine, SMALL_ENGINE_SPECS, like } from './engine-setup';

test.before(requireOnnxEngine);

for (const [arch, spec] of SMALL_ENGINE_SPECS) {
  for (const norm of ['linf', 'l2'] as Norm[]) {
    for (const loss of STEP_LOSSES) {
      test.serial(`${arch} ${norm} ${loss}: one step graph call equals the tfjs cpu iteration (loss, logits, x_next within 1e-4) for both directions`, async (t) => {
        const model = buildModel(spec, [28, 28, 1], 10, 3);
        const n = 6;
        const eps = norm === 'linf' ? 0.1 : 1.5;
        const bounds = { lo: 0, hi: 1 };
        const x0 = tf.randomUniform([n, 28, 28, 1], 0, 1, 'float32', 5);
        // a point inside the ball, some coordinates at the bounds
        const x = tf.clipByValue(tf.add(x0, tf.randomUniform([n, 28, 28, 1], -eps / 40, eps / 40, 'float32', 6)), 0, 1);
        const y = tf.oneHot(tf.tensor1d([0, 1, 2, 3, 4, 5], 'int32'), 10).toFloat() as tf.Tensor2D;
        const step = Float32Array.from([0.01, 0.02, 0.03, 0.01, 0.02, 0.05].map((s) => (norm === 'linf' ? s : 20 * s)));
        const stepper = new Stepper(engineModelOf(engineClassifier(like(model))) as NonNullable<ReturnType<typeof engineModelOf>>, norm, loss);
        // attackObjective's forms: dir * (CE, margin or DLR) of the row's class
        // for the targeted DLR, y holds the targets and uClasses the labels
        const uClasses = tf.tensor1d([3, 4, 5, 6, 7, 8], 'int32');
        const u = loss === 'dlr-targeted' ? (tf.oneHot(uClasses, 10).toFloat().dataSync() as Float32Array) : undefined;
        const lossOf = (z: tf.Tensor2D, dir: number) => {
          const c = tf.argMax(y, -1) as tf.Tensor1D;
          if (loss === 'dlr-targeted') return tf.mul(dlrTargetedLoss(z, uClasses, c), dir);
          return tf.mul(loss === 'ce' ? crossEntropyPerExample(z, y) : (loss === 'margin' ? marginLoss : dlrLoss)(z, c), dir);
        };
        for (const dir of [1, -1] as const) {
          const out = stepper.step({ x: x.dataSync() as Float32Array, x0: x0.dataSync() as Float32Array, t: y.dataSync() as Float32Array, u, step, dir, eps, lo: 0, hi: 1 });
          const ref = await onCpu(() =>
            tf.tidy(() => {
              const objective = (xi: tf.Tensor) => lossOf(model.apply(xi) as tf.Tensor2D, dir);
              const g = tf.grad((xi: tf.Tensor) => tf.sum(objective(xi)))(x);
              const moved = tf.add(x, tf.mul(steepestDirection(g, norm), tf.tensor(step, [n, 1, 1, 1])));
              return {
                g: g.dataSync() as Float32Array,
                loss: objective(x).dataSync() as Float32Array,
                logits: (model.apply(x) as tf.Tensor).dataSync() as Float32Array,
                xNext: project(moved, x0, eps, norm, bounds).dataSync() as Float32Array,
              };
            }),
          );
          t.true(maxRel(out.loss, ref.loss) <= 1e-4, `loss ${maxRel(out.loss, ref.loss)}`);
          t.true(maxRel(out.logits, ref.logits) <= 1e-4, `logits ${maxRel(out.logits, ref.logits)}`);
          if (norm === 'l2') t.true(maxRel(out.xNext, ref.xNext) <= 1e-4, `x_next ${maxRel(out.xNext, ref.xNext)}`);
          else {
            // sign(g) may differ only where g is at float rounding of zero (relative to its row: DLR's rows differ in scale)
            const d = ref.g.length / n;
            const rowMax = Array.from({ length: n }, (_, r) => ref.g.subarray(r * d, (r + 1) * d).reduce((a, v) => Math.max(a, Math.abs(v)), 0));
            let bad = 0;
            let tiny = 0;
            for (let i = 0; i < ref.xNext.length; i++) {
              // an exactly-zero row (DLR is constant where the label ranks third) must stay put here too
              if (rowMax[Math.floor(i / d)] === 0) {
                if (out.xNext[i] !== ref.xNext[i]) bad++;
              } else if (Math.abs(ref.g[i]) <= 1e-5 * rowMax[Math.floor(i / d)]) tiny++;
              else if (Math.abs(out.xNext[i] - ref.xNext[i]) > 1e-4) bad++;
            }
            t.is(bad, 0, 'x_next equals the reference wherever the gradient is clearly nonzero');
            t.true(tiny <= ref.xNext.length / 1000, `${tiny} near-zero gradient entries`);
          }
          // the result lies in the ball and the bounds
          const x0d = x0.dataSync();
          t.true(out.xNext.every((v, i) => v >= 0 && v <= 1 && (norm === 'l2' || Math.abs(v - x0d[i]) <= eps + 1e-6)));

          // APGD: the momentum step from a given gradient, then loss, logits and gradient at the new point; and a plain evaluation
          const g = tf.randomNormal([n, 28, 28, 1], 0, 1, 'float32', 8);
          const xPrev = tf.clipByValue(tf.add(x0, tf.randomUniform([n, 28, 28, 1], -eps / 40, eps / 40, 'float32', 9)), 0, 1);
          const a = 0.75;
          const mo = stepper.momentum({
            x: x.dataSync() as Float32Array,
            xPrev: xPrev.dataSync() as Float32Array,
            g: g.dataSync() as Float32Array,
            step,
            a,
            x0: x0.dataSync() as Float32Array,
            t: y.dataSync() as Float32Array,
            u,
            dir,
            eps,
            lo: 0,
            hi: 1,
          });
          const ev = stepper.evaluate(x.dataSync() as Float32Array, y.dataSync() as Float32Array, dir, u);
          const refMo = await onCpu(() =>
            tf.tidy(() => {
              const objective = (xi: tf.Tensor) => lossOf(model.apply(xi) as tf.Tensor2D, dir);
              const z = project(tf.add(x, tf.mul(steepestDirection(g, norm), tf.tensor(step, [n, 1, 1, 1]))), x0, eps, norm, bounds);
              const xn = project(tf.add(x, tf.add(tf.mul(tf.sub(z, x), a), tf.mul(tf.sub(x, xPrev), 1 - a))), x0, eps, norm, bounds);
              const gradAt = (xi: tf.Tensor) =>
                tf
                  .grad((v: tf.Tensor) => tf.sum(objective(v)))(xi)
                  .dataSync() as Float32Array;
              return { xNext: xn.dataSync() as Float32Array, loss: objective(xn).dataSync() as Float32Array, grad: gradAt(xn), gradAtX: gradAt(x) };
            }),
          );
          t.true(maxRel(mo.xNext, refMo.xNext) <= 1e-4, `momentum x_next ${maxRel(mo.xNext, refMo.xNext)}`);
          t.true(maxRel(mo.loss, refMo.loss) <= 1e-4, `momentum loss ${maxRel(mo.loss, refMo.loss)}`);
          t.true(maxRel(mo.grad, refMo.grad) <= 1e-4, `momentum grad ${maxRel(mo.grad, refMo.grad)}`);
          t.true(maxRel(ev.grad, refMo.gradAtX) <= 1e-4, `eval grad ${maxRel(ev.grad, refMo.gradAtX)}`);
          t.true(maxRel(ev.loss, ref.loss) <= 1e-4 && maxRel(ev.logits, ref.logits) <= 1e-4, 'eval loss and logits');
          tf.dispose([g, xPrev]);
        }
        // the three step graphs (pgd, eval, apgd) are sessions of the model: releasing it closes them
        t.is(stepper.model.sessionCount, 3);
        releaseOnnxModel(like(model));
        t.is(stepper.model.sessionCount, 0);
        tf.dispose([x0, x, y, uClasses]);
        model.dispose();
      });
    }
  }
}

test.serial(
  'FGSM, PGD (ce, margin), APGD-CE and APGD-DLR (linf and l2, untargeted and targeted) through the step graph give the per-example outcomes of the tfjs-tape path on a trained MNIST MLP and CNN',
  async (t) => {
    const dataset = loadDataset({ name: 'mnist' });
    const N = 200;
    const xs = dataset.test.x.subarray(0, N * 784);
    const y = dataset.test.y.slice(0, N);
    const targets = Int32Array.from(y, (v) => (v + 1) % 10);
    for (const [arch, spec] of [
      ['mlp', { arch: 'mlp', hidden: [64, 64] }],
      ['cnn', { arch: 'cnn', filters: [4, 8] }],
    ] as [string, ModelSpec][]) {
      const model = buildModel(spec, dataset.inputShape, dataset.numClasses, 0);
      trainModel(model, dataset, erm({}, dataset, new Rng(0)), { epochs: 1, seed: 0, evalEveryEpoch: false });
      const f = engineClassifier(like(model));
      for (const [name, params] of [
        ['fgsm', {}],
        ['pgd', { steps: 10 }],
        ['pgd', { steps: 10, loss: 'margin' }],
        ['apgd-ce', { steps: 20 }],
        ['apgd-dlr', { steps: 20 }],
        ['apgd-t', { steps: 10, targetClasses: 2 }],
      ] as [string, Record<string, unknown>][])
        for (const norm of (name === 'fgsm' ? ['linf'] : ['linf', 'l2']) as Norm[]) {
          // the targeted DLR has no step graph
          for (const targeted of name === 'apgd-dlr' || name === 'apgd-t' ? [false] : [false, true]) {
            const eps = norm === 'linf' ? 0.1 : 1.5;
            const run = (fast: boolean) => {
              setStepGraphEnabled(fast);
              try {
                const x = tf.tensor(xs, [N, 28, 28, 1]);
                const out = createAttack({ name, params }, norm).run(f, x, y, dataset.bounds, eps, new Rng(11), targeted ? { targets } : {});
                const adv = out.xAdv.dataSync() as Float32Array;
                out.xAdv.dispose();
                x.dispose();
                return { success: out.success, adv };
              } finally {
                setStepGraphEnabled(true);
              }
            };
            const runs = () => engineModelOf(f)?.runs ?? 0;
            const r0 = runs();
            const fast = run(true);
            const r1 = runs();
            const slow = run(false);
            const r2 = runs();
            const agree = fast.success.filter((s, i) => s === slow.success[i]).length;
            const rate = (s: Uint8Array) => s.reduce((a, v) => a + v, 0);
            t.log(
              `${name}${params.loss ? ` ${params.loss}` : ''} ${arch} ${norm}${targeted ? ' targeted' : ''}: engine calls ${r1 - r0} vs ${r2 - r1}, success ${rate(fast.success)} (step graph) vs ${rate(slow.success)} (tape) of ${N}, ${agree} agree, max |dx| ${maxRel(fast.adv, slow.adv).toExponential(1)}`,
            );
            t.is(agree, N, `${name} ${arch} ${norm} targeted=${targeted}: per-example outcomes differ`);
            t.true(rate(fast.success) > 0, 'the attack succeeds somewhere (the comparison is not vacuous)');
            // one engine call per iteration (plus the start's evaluation, the call check and the final scoring), against two (forward-save and backward)
            const steps = (params.steps as number | undefined) ?? 1;
            const perTarget = (params.targetClasses as number | undefined) ?? 1; // apgd-t: one APGD run per target class
            t.true(r1 - r0 <= perTarget * (steps + 1) + 3, `${r1 - r0} engine calls through the step graph for ${steps} iterations`);
            t.true(r2 - r1 >= 2 * steps * perTarget, `${r2 - r1} engine calls on the tape path`);
          }
        }
      releaseOnnxModel(like(model));
      model.dispose();
    }
  },
);
