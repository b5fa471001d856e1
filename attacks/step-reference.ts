import * as tf from '@tensorflow/tfjs';
import type { StepReference } from '../backend/onnx/check';
import { crossEntropyPerExample, dlrLoss, dlrTargetedLoss, marginLoss } from './losses';
import { project, steepestDirection } from './types';

/**
 * The attacks' own tensor code that the engine's step graphs
 * (backend/onnx/step-graph.ts) reproduce, handed to the engine check
 * (backend/onnx/check.ts checkStepGraphs) as its reference: the losses of
 * attacks/losses.ts, and steepestDirection and project of attacks/types.ts.
 * It lives here because the backend layer cannot import the attacks.
 */
export const STEP_REFERENCE: StepReference = {
  objective: (loss, logits, t, dir, u) =>
    tf.tidy(() => {
      const c = tf.argMax(t, -1) as tf.Tensor1D;
      if (loss === 'dlr-targeted') return tf.mul(dlrTargetedLoss(logits, tf.argMax(u as tf.Tensor2D, -1) as tf.Tensor1D, c), dir) as tf.Tensor1D;
      return tf.mul(loss === 'ce' ? crossEntropyPerExample(logits, t) : (loss === 'margin' ? marginLoss : dlrLoss)(logits, c), dir) as tf.Tensor1D;
    }),
  steepest: steepestDirection,
  project,
};
