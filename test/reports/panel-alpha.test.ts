import test from 'ava';
import { panelAlpha } from '../../reports/figures2d';
import { summarizeRun } from '../../reports/summary';
import { LoadedRun } from '../../contract/run-folder';
import { cleanupFixtures, makeRun } from './fixture';

test.after.always(cleanupFixtures);

/** A fixture run whose train results record these α per scheme label. */
function runWithAlphas(schemes: string[], alphaOf: Record<string, number>): LoadedRun {
  const run = makeRun({ schemes, seeds: [0] });
  for (const r of run.results.values()) {
    if (r.kind !== 'train') continue;
    const label = schemes.find((s) => s.replace(/\(.*$/, '') === r.identity.scheme.name && alphaOf[s] !== undefined);
    if (label) r.identity.scheme.settings = { alpha: alphaOf[label] };
  }
  return run;
}

const alphaOf = (run: LoadedRun) => panelAlpha(run, summarizeRun(run).groups[0]);

test('the vicinity panels take the α the run trained mixup-asym with, else mixup-semi, else mixup', (t) => {
  t.is(alphaOf(runWithAlphas(['erm', 'mixup', 'mixup-asym'], { mixup: 1, 'mixup-asym': 0.4 })), 0.4);
  t.is(alphaOf(runWithAlphas(['erm', 'mixup', 'mixup-semi'], { mixup: 1, 'mixup-semi': 0.3 })), 0.3);
  t.is(alphaOf(runWithAlphas(['erm', 'mixup'], { mixup: 0.7 })), 0.7);
});

test("without a mixup-style model the panels use mixup-asym's default α (0.2), not a constant of the report", (t) => {
  t.is(alphaOf(runWithAlphas(['erm', 'label-smoothing'], {})), 0.2);
});
