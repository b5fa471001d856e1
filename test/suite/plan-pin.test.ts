import test from 'ava';
import * as fs from 'fs';
import * as path from 'path';
import { loadStudy } from '../../suite/config';
import { planStudy } from '../../suite/plan';

// Behaviour pin: the shipped profiles plan to exactly these job ids (test/golden/plan-*.json,
// written by the code before the restructuring). A job id is the identity of a result and of a
// cached model: it changes only for a documented reason, with the golden files regenerated.
const GOLDEN = path.join(__dirname, '..', '..', '..', 'test', 'golden');

for (const profile of ['quick', 'nightly', 'full']) {
  test(`the ${profile} profile plans the pinned job ids`, (t) => {
    const want = JSON.parse(fs.readFileSync(path.join(GOLDEN, `plan-${profile}.json`), 'utf8')) as { id: string; kind: string; label: string }[];
    const got = planStudy(loadStudy(profile).config, 'wasm').map((j) => ({ id: j.id, kind: j.kind, label: j.label }));
    t.true(want.length > 0);
    t.deepEqual(got, want);
  });
}
