import test from 'ava';
import * as fs from 'fs';
import { TrainConfig, resolveTrainConfig } from '../../models/train';
import { renderHtml } from '../../reports/html';
import { renderJson } from '../../reports/json';
import { renderMarkdown } from '../../reports/markdown';
import { recipeHeaderLines, stepMilestonesText, trainingRecipeLine } from '../../reports/recipe';
import { RunSummary, summarizeRun } from '../../reports/summary';
import { renderTerminal } from '../../reports/terminal';
import { readStudyFile } from '../../suite/config';
import { FixtureGroup, makeRun } from './fixture';

/**
 * The train config a train job records for a profile's experiment (suite/train-job.ts identityOf:
 * resolveTrainConfig of the study's train settings with the seed, for the dataset). The profile is
 * read, not validated: validation wants the CIFAR files on disk.
 */
function recordedTrain(profile: string, experiment = 0): { train: Record<string, unknown>; dataset: string } {
  const raw = readStudyFile(profile).raw as { experiments: { dataset: { name: string }; train: TrainConfig }[] };
  const ex = raw.experiments[experiment];
  return { train: resolveTrainConfig({ ...ex.train, seed: 0 }, ex.dataset.name) as unknown as Record<string, unknown>, dataset: ex.dataset.name };
}

/** Every report format of a fixture run whose one group recorded `train`. */
function reportsOf(group: FixtureGroup): { summary: RunSummary; formats: Record<string, string> } {
  const run = makeRun({ groups: [group], schemes: ['erm', 'mixup(alpha=1)'], seeds: [0, 1], n: 50, eps: [0.1], attacks: ['fgsm'] });
  try {
    const summary = summarizeRun(run);
    const formats = {
      terminal: renderTerminal(summary),
      'terminal --detail': renderTerminal(summary, { detail: true }),
      markdown: renderMarkdown(summary),
      html: renderHtml(summary),
      json: renderJson(summary),
    };
    return { summary, formats };
  } finally {
    fs.rmSync(run.dir, { recursive: true, force: true });
  }
}

/** The header part of a format: what comes before the findings (JSON: the group's recipe field). */
function headerOf(name: string, text: string): string {
  if (name === 'json') return (JSON.parse(text) as { groups: { recipe: string }[] }).groups.map((g) => g.recipe).join('\n');
  const at = name === 'html' ? text.indexOf('<h2') : name === 'markdown' ? text.indexOf('## Findings') : text.indexOf('Findings');
  return text.slice(0, at);
}

test('the step schedule milestones are where learningRateAt drops: PyTorch MultiStepLR milestones [100, 150] for 200 epochs', (t) => {
  t.is(stepMilestonesText(200), '÷10 after epochs 100 and 150');
  t.is(stepMilestonesText(8), '÷10 after epochs 4 and 6');
  // Two epochs: both drops land on epoch 2 (epoch > 1 and epoch > 1.5), one ÷100 step.
  t.is(stepMilestonesText(2), '÷100 after epoch 1');
  t.is(stepMilestonesText(1), 'no drop within the epochs');
});

test('a cifar-style report names SGD, momentum, weight decay, the step schedule with its milestones and crop+flip in every header', (t) => {
  const { train, dataset } = recordedTrain('cifar');
  t.is(dataset, 'cifar10');
  const { summary, formats } = reportsOf({ group: 'cifar10/preact-resnet-18', dataset: { name: 'cifar10', nTrain: 50000, nTest: 10000 }, model: { arch: 'preact-resnet', depth: 18 }, train });
  // The summary carries the recorded config itself (less the per-row seed), not a re-derived one.
  const { seed: _seed, ...withoutSeed } = train;
  t.deepEqual(summary.groups[0].train, withoutSeed);
  const line = summary.groups[0].recipe;
  t.is(
    line,
    'SGD, momentum 0.9, learning rate 0.1, step schedule (÷10 after epochs 100 and 150), weight decay 0.0001, batch 128, 200 epochs, crop+flip augmentation (4-pixel zero padding, random crop back to size, horizontal flip with p=1/2)',
  );
  for (const [name, text] of Object.entries(formats)) {
    const head = headerOf(name, text);
    for (const want of ['SGD', 'momentum 0.9', 'weight decay 0.0001', 'step schedule', '÷10 after epochs 100 and 150', 'crop+flip', '4-pixel zero padding', 'batch 128', '200 epochs']) {
      t.true(head.replace(/\s+/g, ' ').includes(want), `${name} header names "${want}"`);
    }
    t.false(head.includes('Adam'), `${name} header does not name Adam`);
  }
});

test('cifar-quick records a cosine schedule and weight decay 0.0005; the report says so', (t) => {
  const { train } = recordedTrain('cifar-quick');
  t.regex(trainingRecipeLine(train), /^SGD, momentum 0\.9, learning rate 0\.1, cosine schedule .*, weight decay 0\.0005, batch 128, 5 epochs, crop\+flip/);
});

test('an MNIST Adam report names Adam and no augmentation, and no momentum, SGD or crop+flip', (t) => {
  const { train, dataset } = recordedTrain('quick', 1);
  t.is(dataset, 'mnist');
  const { summary, formats } = reportsOf({ group: 'mnist/mlp-256x256', dataset: { name: 'mnist', nTrain: 8000, nTest: 2000 }, model: { arch: 'mlp', hidden: [256, 256] }, train });
  t.is(summary.groups[0].recipe, 'Adam, learning rate 0.001, constant schedule, weight decay 0, batch 64, 10 epochs, no augmentation');
  for (const [name, text] of Object.entries(formats)) {
    const head = headerOf(name, text).replace(/\s+/g, ' ');
    t.true(head.includes('Adam') && head.includes('no augmentation'), `${name} header names Adam and no augmentation`);
    for (const not of ['SGD', 'momentum', 'crop+flip']) t.false(head.includes(not), `${name} header does not name ${not}`);
  }
});

test('a field the results did not record is named as not recorded, never filled with a default', (t) => {
  t.is(trainingRecipeLine({ epochs: 3 }), '3 epochs; not recorded: optimizer, learning rate, schedule, weight decay, batch size, augmentation');
  t.is(
    trainingRecipeLine({ optimizer: 'sgd', lrSchedule: 'step' }),
    'SGD (momentum not recorded), step schedule (milestones unknown: epochs not recorded); not recorded: learning rate, weight decay, batch size, epochs, augmentation',
  );
  t.regex(trainingRecipeLine(null), /^not recorded/);
});

test('the header names one recipe when every group shares it, else one per group', (t) => {
  const a = trainingRecipeLine(recordedTrain('quick', 0).train);
  const b = trainingRecipeLine(recordedTrain('quick', 1).train);
  t.not(a, b);
  t.deepEqual(
    recipeHeaderLines([
      { group: 'g1', recipe: b },
      { group: 'g2', recipe: b },
    ]),
    [`training recipe (every group): ${b}`],
  );
  t.deepEqual(
    recipeHeaderLines([
      { group: 'moons/mlp', recipe: a },
      { group: 'mnist/mlp', recipe: b },
    ]),
    [`training recipe, moons/mlp: ${a}`, `training recipe, mnist/mlp: ${b}`],
  );
});
