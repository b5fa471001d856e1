/**
 * Learning-rate schedules, as the rate of one optimisation step. `epoch` is
 * 1-based, `step` 0-based within the epoch.
 *
 * - constant: the base rate throughout.
 * - step: as in facebookresearch/mixup-cifar10 (train.py, adjust_learning_rate):
 *   the base rate, divided by 10 after half the epochs and again after three
 *   quarters (200 epochs at 0.1: 0.1 for epochs 1-100, 0.01 for 101-150, 0.001 after).
 * - cosine: base * (1 + cos(pi * t)) / 2 over the steps, t = steps done / all steps
 *   (Loshchilov and Hutter 2017, without restarts): base at the start, base / 2
 *   halfway, towards 0 at the end.
 * - onecycle: Smith and Topin 2019 as PyTorch's OneCycleLR sets it by default:
 *   from base / 25 up to the base rate (the peak) over the first 30% of the
 *   steps, then down to base / 25 / 1e4, both by cosine.
 */
export const LR_SCHEDULES = ['constant', 'step', 'cosine', 'onecycle'] as const;
export type LrSchedule = (typeof LR_SCHEDULES)[number];

/** One-cycle: share of the steps spent warming up, and the start and end divisors (PyTorch's defaults). */
export const ONE_CYCLE = { warmup: 0.3, startDiv: 25, endDiv: 1e4 } as const;

const cosineFrom = (from: number, to: number, t: number) => to + ((from - to) * (1 + Math.cos(Math.PI * t))) / 2;

export function learningRateAt(schedule: LrSchedule, base: number, epoch: number, step: number, stepsPerEpoch: number, epochs: number): number {
  const done = (epoch - 1) * stepsPerEpoch + step;
  const all = epochs * stepsPerEpoch;
  switch (schedule) {
    case 'constant':
      return base;
    case 'step': {
      const drops = (epoch > epochs / 2 ? 1 : 0) + (epoch > (3 * epochs) / 4 ? 1 : 0);
      return base * 0.1 ** drops;
    }
    case 'cosine':
      return cosineFrom(base, 0, done / all);
    case 'onecycle': {
      const start = base / ONE_CYCLE.startDiv;
      const peakAt = ONE_CYCLE.warmup * all;
      if (done < peakAt) return cosineFrom(start, base, done / peakAt);
      return cosineFrom(base, start / ONE_CYCLE.endDiv, (done - peakAt) / (all - peakAt));
    }
  }
}
