/**
 * The training recipe a report names in its header, read off the train
 * config the results recorded (ModelIdentity.train: the config the training
 * ran with, defaults filled in by the train job). Nothing is re-derived here:
 * a field the results did not record is listed as "not recorded", never
 * replaced by today's default. The step schedule's milestones come from
 * models/schedule.ts's own learningRateAt, so they cannot drift from what
 * training did.
 */
import { CROP_PADDING } from '../models/augment';
import { LR_SCHEDULES, LrSchedule, ONE_CYCLE, learningRateAt } from '../models/schedule';

/** The config fields a recipe names, in the order it names them, with the words for a missing one. */
const FIELDS: [string, string][] = [
  ['optimizer', 'optimizer'],
  ['learningRate', 'learning rate'],
  ['lrSchedule', 'schedule'],
  ['weightDecay', 'weight decay'],
  ['batchSize', 'batch size'],
  ['epochs', 'epochs'],
  ['augment', 'augmentation'],
];

const num = (v: unknown): number | null => (typeof v === 'number' && Number.isFinite(v) ? v : null);

/** "÷10 after epochs 100 and 150" for the step schedule: where learningRateAt drops between epochs, and by how much. */
export function stepMilestonesText(epochs: number): string {
  const drops: { after: number; factor: number }[] = [];
  for (let e = 2; e <= epochs; e++) {
    const before = learningRateAt('step', 1, e - 1, 0, 1, epochs);
    const now = learningRateAt('step', 1, e, 0, 1, epochs);
    if (now < before) drops.push({ after: e - 1, factor: Math.round(before / now) });
  }
  if (!drops.length) return 'no drop within the epochs';
  const byFactor = new Map<number, number[]>();
  for (const d of drops) byFactor.set(d.factor, [...(byFactor.get(d.factor) ?? []), d.after]);
  return [...byFactor].map(([f, at]) => `÷${f} after epoch${at.length > 1 ? 's' : ''} ${at.length > 1 ? `${at.slice(0, -1).join(', ')} and ${at[at.length - 1]}` : at[0]}`).join(', ');
}

/** The schedule in words; the step schedule's milestones need the epoch count. */
function scheduleText(schedule: LrSchedule, epochs: number | null): string {
  switch (schedule) {
    case 'constant':
      return 'constant schedule';
    case 'step':
      return `step schedule (${epochs === null ? 'milestones unknown: epochs not recorded' : stepMilestonesText(epochs)})`;
    case 'cosine':
      return 'cosine schedule (to 0 over all steps, per step)';
    case 'onecycle':
      return `one-cycle schedule (from peak/${ONE_CYCLE.startDiv} up to the peak over the first ${ONE_CYCLE.warmup * 100}% of steps, then down to peak/${ONE_CYCLE.startDiv * ONE_CYCLE.endDiv}, cosine)`;
  }
}

/**
 * One line naming a recorded train config, e.g. "SGD, momentum 0.9, learning
 * rate 0.1, step schedule (÷10 after epochs 100 and 150), weight decay 0.0001,
 * batch 128, 200 epochs, crop+flip augmentation (4-pixel zero padding)".
 * `null` (no result recorded one) says so.
 */
export function trainingRecipeLine(train: Record<string, unknown> | null): string {
  if (!train) return 'not recorded (no result of a train job yet, or an imported model trained elsewhere)';
  const parts: string[] = [];
  const missing: string[] = [];
  const opt = train.optimizer;
  if (opt === 'sgd') parts.push(num(train.momentum) === null ? 'SGD (momentum not recorded)' : `SGD, momentum ${train.momentum}`);
  else if (opt === 'adam') parts.push('Adam');
  else if (opt !== undefined) parts.push(`optimizer ${String(opt)}`);
  const epochs = num(train.epochs);
  const schedule = train.lrSchedule;
  const known = (LR_SCHEDULES as readonly unknown[]).includes(schedule);
  if (train.learningRate !== undefined) parts.push(`learning rate ${String(train.learningRate)}${schedule === 'onecycle' ? ' (peak)' : ''}`);
  if (known) parts.push(scheduleText(schedule as LrSchedule, epochs));
  else if (schedule !== undefined) parts.push(`schedule ${String(schedule)}`);
  if (train.weightDecay !== undefined) parts.push(`weight decay ${String(train.weightDecay)}`);
  if (train.batchSize !== undefined) parts.push(`batch ${String(train.batchSize)}`);
  if (train.epochs !== undefined) parts.push(`${String(train.epochs)} epochs`);
  const aug = train.augment;
  if (aug === 'crop-flip') parts.push(`crop+flip augmentation (${CROP_PADDING}-pixel zero padding, random crop back to size, horizontal flip with p=1/2)`);
  else if (aug === 'none') parts.push('no augmentation');
  else if (aug !== undefined) parts.push(`augmentation ${String(aug)}`);
  for (const [key, words] of FIELDS) if (train[key] === undefined) missing.push(words);
  const line = parts.join(', ');
  if (!missing.length) return line;
  return `${line}${line ? '; ' : ''}not recorded: ${missing.join(', ')}`;
}

/**
 * The header's recipe lines: one line when every group trained the same way
 * ("training recipe: ..."), else one per group ("training recipe, cifar10/resnet-20: ...").
 */
export function recipeHeaderLines(groups: readonly { group: string; recipe: string }[]): string[] {
  if (!groups.length) return [];
  const distinct = new Set(groups.map((g) => g.recipe));
  if (distinct.size === 1) return [`training recipe${groups.length > 1 ? ' (every group)' : ''}: ${groups[0].recipe}`];
  return groups.map((g) => `training recipe, ${g.group}: ${g.recipe}`);
}
