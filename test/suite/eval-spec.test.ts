import test from 'ava';
import { withEvalDefaults } from '../../eval/config';
import { loadStudy } from '../../suite/config';
import { evalConfigOfSpec, EvalJob } from '../../suite/job-spec';
import { planStudy } from '../../suite/plan';

// An eval job's spec and the EvalConfig it runs: one builder, the settings passed whole and already defaulted.
const SETTINGS = ['norm', 'eps', 'nExamples', 'batchSize', 'probePoints', 'saveAdversarial'] as const;

test('evalConfigOfSpec: every eval job of the shipped profiles runs its spec settings, attacks, probes and transfer', (t) => {
  let withTransfer = 0;
  let withoutSource = 0;
  for (const profile of ['quick', 'nightly', 'full']) {
    const jobs = planStudy(loadStudy(profile).config, 'wasm').filter((j): j is EvalJob => j.kind === 'eval');
    t.true(jobs.length > 0, profile);
    for (const job of jobs) {
      const spec = job.spec;
      const c = evalConfigOfSpec(spec);
      for (const k of SETTINGS) t.deepEqual(c[k], spec.eval[k], `${job.id} ${k}`);
      // the spec was defaulted when the study was loaded: defaulting again changes nothing
      t.deepEqual(withEvalDefaults(c), c, job.id);
      t.is(c.attacks, spec.attacks);
      t.is(c.probes, spec.probes);
      if (spec.transfer && spec.transfer.sourceTrainJobIds.length > 0) {
        withTransfer++;
        t.deepEqual(c.transfer, [{ source: spec.transfer.source, attack: spec.transfer.attack }]);
      } else {
        if (spec.transfer) withoutSource++;
        t.deepEqual(c.transfer, []);
      }
    }
  }
  // the profiles exercise both transfer cases: a job with a source model, and the source scheme's own job
  t.true(withTransfer > 0 && withoutSource > 0, `${withTransfer} with a source, ${withoutSource} without`);
});
