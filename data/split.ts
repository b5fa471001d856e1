import { Rng } from './rng';
import { LabelledSet, UnlabelledSet, takeLabels, takeRows } from './types';

/**
 * Seeded stratified split: each class contributes to the test set in
 * proportion to its frequency (largest-remainder rounding so the total is
 * exactly `nTest`). Both parts are returned in a seeded shuffled order.
 */
export function stratifiedSplit(data: LabelledSet, d: number, numClasses: number, nTest: number, rng: Rng): { train: LabelledSet; test: LabelledSet } {
  if (nTest <= 0 || nTest >= data.n) {
    throw new Error(`test size must be in [1, ${data.n - 1}], got ${nTest}`);
  }
  const byClass: number[][] = Array.from({ length: numClasses }, () => []);
  for (let i = 0; i < data.n; i++) byClass[data.y[i]].push(i);
  const quota = byClass.map((idx) => (idx.length * nTest) / data.n);
  const take = quota.map(Math.floor);
  let missing = nTest - take.reduce((a, b) => a + b, 0);
  const order = quota.map((q, c) => ({ c, r: q - Math.floor(q) })).sort((a, b) => b.r - a.r || a.c - b.c);
  for (let k = 0; missing > 0; k++, missing--) take[order[k % numClasses].c]++;
  const trainIdx: number[] = [];
  const testIdx: number[] = [];
  byClass.forEach((idx, c) => {
    const perm = rng.permutation(idx.length);
    for (let k = 0; k < idx.length; k++) (k < take[c] ? testIdx : trainIdx).push(idx[perm[k]]);
  });
  const shuffle = (idx: number[]) => {
    const p = rng.permutation(idx.length);
    return Array.from(p, (k) => idx[k]);
  };
  const tr = shuffle(trainIdx);
  const te = shuffle(testIdx);
  return {
    train: { x: takeRows(data.x, d, tr), y: takeLabels(data.y, tr), n: tr.length },
    test: { x: takeRows(data.x, d, te), y: takeLabels(data.y, te), n: te.length },
  };
}

export interface SemiSupervisedSplit {
  /** k examples per class, with labels. */
  labelled: LabelledSet;
  /** The remaining training inputs; their labels are not part of this object. */
  unlabelled: UnlabelledSet;
  /** Positions of the labelled examples in the original training set. */
  labelledIndex: Int32Array;
}

/**
 * Keeps `perClass` labelled examples of each class (seeded choice) and turns
 * every other training input into the unlabelled pool. The pool is built by
 * copying inputs only, so no code holding it can read a withheld label.
 */
export function semiSupervisedSplit(train: LabelledSet, d: number, numClasses: number, perClass: number, rng: Rng): SemiSupervisedSplit {
  if (!Number.isInteger(perClass) || perClass < 1) {
    throw new Error(`labelled examples per class must be an integer >= 1, got ${perClass}`);
  }
  const byClass: number[][] = Array.from({ length: numClasses }, () => []);
  for (let i = 0; i < train.n; i++) byClass[train.y[i]].push(i);
  const chosen: number[] = [];
  byClass.forEach((idx, c) => {
    if (idx.length <= perClass) {
      throw new Error(`class ${c} has ${idx.length} training examples; need more than ${perClass} to keep an unlabelled pool`);
    }
    const perm = rng.permutation(idx.length);
    for (let k = 0; k < perClass; k++) chosen.push(idx[perm[k]]);
  });
  chosen.sort((a, b) => a - b);
  const isLabelled = new Uint8Array(train.n);
  for (const i of chosen) isLabelled[i] = 1;
  const rest: number[] = [];
  for (let i = 0; i < train.n; i++) if (!isLabelled[i]) rest.push(i);
  return {
    labelled: { x: takeRows(train.x, d, chosen), y: takeLabels(train.y, chosen), n: chosen.length },
    unlabelled: { x: takeRows(train.x, d, rest), n: rest.length },
    labelledIndex: Int32Array.from(chosen),
  };
}
