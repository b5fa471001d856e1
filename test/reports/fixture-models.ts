/** Saved models for report fixtures (separate so that only the tests that need TensorFlow.js load it). */
import * as tf from '@tensorflow/tfjs';
import { buildModel } from '../../models/build';
import { saveModel } from '../../models/io';
import { LoadedRun, modelDir } from '../../contract/run-folder';
import { silenceTfjsAdvert } from '../../backend/quiet';

/**
 * Saves a linear model for every ok train job, with weights set so that its
 * decision boundary (logit1 = logit0) is a line through the centre of the two
 * moons (0.5, 0.25), tilted differently per seed: every boundary lies inside
 * the plotted area.
 */
export async function saveFixtureModels(run: LoadedRun): Promise<void> {
  silenceTfjsAdvert();
  for (const j of run.manifest.jobs) {
    if (j.kind !== 'train') continue;
    const r = run.results.get(j.id);
    if (r?.status !== 'ok') continue;
    const m = buildModel({ arch: 'linear' }, [2], 2, j.seed + 1);
    const angle = 0.3 + 0.4 * j.seed;
    const [a, b] = [3 * Math.cos(angle), 3 * Math.sin(angle)];
    // logit0 = 0; logit1 = a (x - 0.5) + b (y - 0.25)
    m.setWeights([tf.tensor2d([0, a, 0, b], [2, 2]), tf.tensor1d([0, -a * 0.5 - b * 0.25])]);
    await saveModel(m, modelDir(run.dir, j.id));
    m.dispose();
  }
}
