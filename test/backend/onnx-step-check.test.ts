/**
 * The engine check's step graph rows (backend/onnx/check.ts checkStepGraphs,
 * run by `vicinal doctor --backend onnx`): every kind x norm x loss on
 * ordinary and special inputs agrees with the attacks' own tfjs code on cpu
 * (attacks/step-reference.ts), and a reference that is off by a little makes
 * the check fail (it can fail).
 */
import test from 'ava';
import * as tf from '@tensorflow/tfjs';
import { checkStepGraphs, ENGINE_TOL_VS_CPU, STEP_KINDS, stepCases, StepReference } from '../../backend/onnx/check';
import { liveOnnxSessions } from '../../backend/onnx/engine';
import { STEP_LOSSES } from '../../backend/onnx/step-graph';
import { STEP_REFERENCE } from '../../attacks/step-reference';
import { requireOnnxEngine } from './engine-setup';

test.before(requireOnnxEngine);

test.serial(
  'every step graph (pgd, eval, apgd x linf, l2 x ce, margin, dlr, dlr-targeted) agrees with the attacks tfjs code on cpu within 1e-4, on ordinary and on +-0, tiny, subnormal, huge inputs',
  async (t) => {
    const sessions = liveOnnxSessions();
    const rows = await checkStepGraphs(STEP_REFERENCE);
    for (const r of rows) if (!(r.maxRelErrVsCpu <= ENGINE_TOL_VS_CPU)) t.log(r);
    const cases = stepCases();
    t.true(cases.some((c) => c.input === 'special'));
    t.is(rows.length, cases.length * STEP_KINDS.length * 2 * STEP_LOSSES.length);
    for (const c of cases) {
      for (const kind of STEP_KINDS) {
        for (const norm of ['linf', 'l2']) {
          for (const loss of STEP_LOSSES) {
            const row = rows.find((r) => r.model === `step ${kind} ${norm} ${loss} on ${c.name}`);
            t.truthy(row, `${kind} ${norm} ${loss} on ${c.name}`);
            t.true(row !== undefined && !row.error && row.maxRelErrVsCpu <= ENGINE_TOL_VS_CPU, `${kind} ${norm} ${loss} on ${c.name}: ${row?.maxRelErrVsCpu} ${row?.error ?? ''}`);
            // every output of the kind is compared
            t.is(row?.quantity, kind === 'eval' ? 'loss,logits,grad' : kind === 'pgd' ? 'x_next,loss,logits' : 'x_next,loss,logits,grad');
          }
        }
      }
    }
    t.is(liveOnnxSessions(), sessions, 'the check releases its models sessions');
  },
);

test.serial('the step graph check fails against a reference that is off: the objective scaled by 1 + 1e-3, or an l2 step of twice the length', async (t) => {
  const one = stepCases().slice(0, 1);
  const scaled: StepReference = { ...STEP_REFERENCE, objective: (loss, z, tt, dir, u) => tf.mul(STEP_REFERENCE.objective(loss, z, tt, dir, u), 1 + 1e-3) as tf.Tensor1D };
  const rows = await checkStepGraphs(scaled, one);
  t.true(
    rows.every((r) => r.maxRelErrVsCpu > ENGINE_TOL_VS_CPU),
    'every row compares the loss (and the gradient)',
  );
  const longStep: StepReference = { ...STEP_REFERENCE, steepest: (g, norm) => (norm === 'l2' ? tf.mul(STEP_REFERENCE.steepest(g, norm), 2) : STEP_REFERENCE.steepest(g, norm)) };
  const rows2 = await checkStepGraphs(longStep, one);
  const failing = rows2.filter((r) => r.maxRelErrVsCpu > ENGINE_TOL_VS_CPU).map((r) => r.model);
  t.deepEqual(
    failing.sort(),
    rows2
      .filter((r) => r.model.includes(' l2 ') && !r.model.startsWith('step eval'))
      .map((r) => r.model)
      .sort(),
    'exactly the l2 steps (pgd, apgd) fail',
  );
});
