import test from 'ava';
import * as fs from 'fs';
import * as path from 'path';
import { renderJson } from '../../reports/json';
import { summarizeRun } from '../../reports/summary';
import { FixtureOptions, makeRun } from './fixture';

// Behaviour pin: the JSON summary of a fixed fixture run (two groups, four schemes, three
// seeds, a diverged seed, a failed eval, a flag) equals test/golden/summary.json byte for byte.
// A deliberate change of the summary regenerates the pin with VICINAL_UPDATE_GOLDEN=1 (then
// read the git diff of test/golden/summary.json: it must hold only the intended change).
const GOLDEN = path.join(__dirname, '..', '..', '..', 'test', 'golden');

test('the JSON summary of the pinned fixture run is unchanged, byte for byte', (t) => {
  // eslint-disable-next-line @typescript-eslint/no-require-imports
  const options = (require(path.join(GOLDEN, 'fixture-options.js')) as () => FixtureOptions)();
  const run = makeRun(options);
  const got = renderJson(summarizeRun(run)).split(run.dir).join('<RUN>');
  if (process.env.VICINAL_UPDATE_GOLDEN === '1') fs.writeFileSync(path.join(GOLDEN, 'summary.json'), got);
  const want = fs.readFileSync(path.join(GOLDEN, 'summary.json'), 'utf8');
  t.true(want.length > 1000);
  t.is(got, want);
  fs.rmSync(run.dir, { recursive: true, force: true });
});
