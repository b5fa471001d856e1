import test from 'ava';
import * as path from 'path';
import { compareRuns, DEFAULT_THRESHOLDS } from '../../reports/compare';
import { collectHistory } from '../../reports/history';
import { renderMarkdown } from '../../reports/markdown';
import { correctnessLookup, probeOrder, summarizeRun } from '../../reports/summary';
import { renderTerminal } from '../../reports/terminal';
import { cleanupFixtures, makeRun, tmpDir } from './fixture';

test.after.always(cleanupFixtures);

// ε columns sort as numbers everywhere: 0.05 < 0.1 < 0.2 < 0.3 (as text "0.05" sorted after "0.3").
const EPS = [0.3, 0.05, 0.2, 0.1];
const SORTED = ['0.05', '0.1', '0.2', '0.3'];
const MNIST = [{ group: 'mnist/mlp-32', dataset: { name: 'mnist', seed: 0, nTrain: 800, nTest: 200 }, model: { arch: 'mlp', hidden: [32] } }];

/** The ε of every key of `keys` that starts with `prefix` and ends in "<norm>:<eps>", in order. */
const epsOf = (keys: string[], prefix: string) => keys.filter((k) => k.startsWith(prefix)).map((k) => k.slice(k.lastIndexOf(':') + 1));

test('probe order compares ε numerically (and keeps train, test, vicinal first)', (t) => {
  const keys = ['local-lipschitz@linf:0.3', 'local-lipschitz@linf:0.05', 'local-lipschitz@linf:0.1', 'local-lipschitz@l2:0.5', 'grad-l1/vicinal', 'grad-l1/train', 'grad-l1/test'];
  t.deepEqual([...keys].sort(probeOrder), [
    'grad-l1/train',
    'grad-l1/test',
    'grad-l1/vicinal',
    'local-lipschitz@l2:0.5',
    'local-lipschitz@linf:0.05',
    'local-lipschitz@linf:0.1',
    'local-lipschitz@linf:0.3',
  ]);
});

test('summary: robust, worst-case and probe columns and the probe distributions run in numeric ε order', (t) => {
  const s = summarizeRun(makeRun({ groups: MNIST, seeds: [0, 1], eps: EPS }));
  const g = s.groups[0];
  const keys = g.columns.map((c) => c.key);
  for (const prefix of ['robust:fgsm@', 'robust:pgd@', 'worst@', 'probe:local-lipschitz@', 'probe:first-order/measured@', 'probe:first-order/predicted@', 'probe:first-order/ratio@']) {
    t.deepEqual(epsOf(keys, prefix), SORTED, prefix);
  }
  t.deepEqual(epsOf(Object.keys(g.rows[0].probeDistributions), 'local-lipschitz@'), SORTED);
  t.deepEqual(epsOf(Object.keys(g.rows[0].cells), 'probe:first-order/ratio@'), SORTED);
  t.deepEqual(g.attacks.find((a) => a.attack === 'pgd')?.eps, [0.05, 0.1, 0.2, 0.3]);
});

test('terminal and Markdown tables: probe sections list ε numerically; the compact table and the findings too', (t) => {
  const s = summarizeRun(makeRun({ groups: MNIST, seeds: [0], eps: EPS }));
  const md = renderMarkdown(s);
  const head = md.split('\n').find((l) => l.startsWith('| scheme | local-lipschitz@'));
  t.truthy(head);
  t.deepEqual(
    head!
      .split('|')
      .slice(2, -1)
      .map((c) => c.trim().split(':').pop()),
    SORTED,
  );
  const term = renderTerminal(s, { detail: true });
  const at = SORTED.map((e) => term.indexOf(`local-lipschitz@linf:${e}`));
  t.true(
    at.every((x, i) => x > 0 && (i === 0 || x > at[i - 1])),
    `positions ${at}`,
  );
  // The default report: the compact table's worst-case columns and the findings' clauses.
  const compact = renderTerminal(s);
  const compactHeads = compact
    .split('\n')
    .filter((l) => l.startsWith('│ scheme'))
    .flatMap((l) =>
      l
        .split('│')
        .slice(2, -1)
        .map((c) => c.trim()),
    );
  t.deepEqual(compactHeads, ['clean', ...SORTED.map((e) => `worst ε=${e}`), 'grad-l1/test']);
  // The compact findings' one sentence per scheme lists its ε in one run ("at ε=0.05, 0.1, 0.2 and 0.3 (...)").
  const sentence = compact.replace(/\s+/g, ' ').match(/ mixup: (.*?); over 1 seed\./)![1];
  const list = sentence.match(/at ε=([\d.]+(?:, [\d.]+)*(?: and [\d.]+)?) \(/)![1];
  t.deepEqual(list.split(/, | and /), SORTED);
  // --detail keeps the full sentence, one clause per ε.
  const full = term.replace(/\s+/g, ' ').match(/mixup: worst-case robust accuracy (.*?)\.(?: |$)/)![1];
  t.deepEqual(
    [...full.matchAll(/at ε=([\d.]+)/g)].map((m) => m[1]),
    SORTED,
  );
});

test('compare and history merge the columns of runs with different ε in numeric order', (t) => {
  const dir = tmpDir('vicinal-eps-');
  const a = makeRun({ groups: MNIST, seeds: [0, 1], eps: [0.1, 0.3], dir: path.join(dir, 'a'), startedAt: '2025-01-01T00:00:00.000Z' });
  const b = makeRun({ groups: MNIST, seeds: [0, 1], eps: [0.05, 0.2, 0.3], dir: path.join(dir, 'b'), startedAt: '2025-01-02T00:00:00.000Z' });
  const sa = summarizeRun(a);
  const sb = summarizeRun(b);
  const c = compareRuns(sa, sb, DEFAULT_THRESHOLDS, 'defaults', correctnessLookup(a, sa), correctnessLookup(b, sb));
  const erm = c.deltas.filter((d) => d.scheme === 'erm').map((d) => d.column);
  t.deepEqual(epsOf(erm, 'robust:pgd@'), ['0.05', '0.1', '0.2', '0.3']);
  t.deepEqual(epsOf(erm, 'probe:local-lipschitz@'), ['0.05', '0.1', '0.2', '0.3']);
  const h = collectHistory(dir, ['robust:pgd', 'probe:local-lipschitz']);
  t.deepEqual(
    h.series.map((x) => x.metric),
    ['0.05', '0.1', '0.2', '0.3'].map((e) => `robust:pgd@linf:${e}`).concat(['0.05', '0.1', '0.2', '0.3'].map((e) => `probe:local-lipschitz@linf:${e}`)),
  );
});
