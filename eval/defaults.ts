/**
 * The evaluation's default sizes, in one module that eval/config.ts (which
 * applies them to EvalSettings) and eval/probes.ts (which config.ts imports)
 * both read.
 *
 * 500 examples (as suite/config.ts) give a standard error of at most 2.2
 * points on a robust accuracy; batches of 250 keep the wasm backend near its
 * throughput (500 is ~15% faster, 100 ~35% slower, for PGD on the MNIST MLP).
 * 200 probe and sanity points bound the extra cost of the probes and checks
 * to a few PGD-40 runs.
 */
import { Norm } from '../contract/norms';

export const EVAL_DEFAULTS = { norm: 'linf' as Norm, nExamples: 500, batchSize: 250, probePoints: 200, sanityExamples: 200 };
