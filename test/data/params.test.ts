import test from 'ava';
import { DATASETS, datasetDescriptor, datasetParamsHelp, defaultAttackEps, defaultEpsHelp, loadDataset } from '../../data/registry';
import { numberParam, paramHelp } from '../../data/descriptor';

// Each descriptor's parameter table is the one place a default is written: loading, the help
// text and the shard cost model all read it.

test('a spec that names only the dataset loads with every table default, as its settings record', (t) => {
  for (const name of ['moons', 'circles', 'mnist']) {
    const d = datasetDescriptor(name);
    const ds = loadDataset({ name });
    for (const [k, p] of Object.entries(d.params)) {
      t.is(typeof p.default, 'number', `${name}.${k} has a numeric default`);
      t.is(ds.settings[k], p.default as number, `${name}.${k}`);
    }
    t.is(ds.train.n, d.params.nTrain.default as number);
    t.is(ds.test.n, d.params.nTest.default as number);
  }
});

test('given values win over the table defaults, and an omitted seed is the same as seed: default', (t) => {
  const ds = loadDataset({ name: 'circles', nTrain: 30, nTest: 20, noise: 0.2, factor: 0.3 });
  t.deepEqual(ds.settings, { name: 'circles', seed: 0, nTrain: 30, nTest: 20, noise: 0.2, factor: 0.3 });
  const implicit = loadDataset({ name: 'moons', nTrain: 40, nTest: 10 });
  const explicit = loadDataset({ name: 'moons', nTrain: 40, nTest: 10, seed: datasetDescriptor('moons').params.seed.default as number });
  t.deepEqual(Array.from(implicit.train.x), Array.from(explicit.train.x));
});

test('a parameter whose default is read from the data has no value to fill in: numberParam refuses rather than invent one', (t) => {
  const files = datasetDescriptor('files');
  t.is(files.params.nTrain.default, undefined);
  t.is(files.params.nTrain.defaultFrom, 'all');
  t.throws(() => numberParam(files.params, { name: 'files' }, 'nTrain'), { message: /parameter nTrain has no value and no numeric default/ });
  t.is(numberParam(files.params, { name: 'files' }, 'divideBy'), 1);
  t.is(numberParam(files.params, { name: 'files', divideBy: 255 }, 'divideBy'), 255);
});

test('the help text has one line per parameter with the default from the table (or "required")', (t) => {
  const mnist = paramHelp(datasetDescriptor('mnist'));
  t.deepEqual(mnist, ['seed    seed of the generator, split or subsets (default: 0)', 'nTrain  training digits (nTrain + nTest <= 10000) (default: 8000)', 'nTest   test digits (default: 2000)']);
  const files = paramHelp(datasetDescriptor('files'));
  t.true(files.some((l) => /^test +test data, as train \(required\)$/.test(l)));
  t.true(files.some((l) => /^nTrain +.* \(default: all\)$/.test(l)));
  const all = datasetParamsHelp();
  for (const d of DATASETS) {
    t.true(all.includes(`  ${d.name}: ${d.summary}`));
    t.is(
      all.split('\n').filter((l) => l.startsWith('    ')).length,
      DATASETS.reduce((n, e) => n + Object.keys(e.params).length, 0),
    );
  }
});

test("the default radii in the attack command's help are the descriptors' own, for every dataset", (t) => {
  const help = defaultEpsHelp();
  const moons = loadDataset({ name: 'moons', nTrain: 10, nTest: 10 });
  const mnist = loadDataset({ name: 'mnist', nTrain: 10, nTest: 10 });
  for (const [ds, name] of [
    [moons, 'moons, circles'],
    [mnist, 'mnist'],
  ] as const) {
    t.true(help.includes(`${name} linf ${defaultAttackEps(ds, 'linf').join(',')} / l2 ${defaultAttackEps(ds, 'l2').join(',')}`), `${name}: ${help}`);
  }
  t.regex(help, /files linf 0\.1,0\.2,0\.3 \/ l2 0\.5,1,2 times the bounds' range$/);
  t.is(
    help.split('; ').length,
    new Set(
      DATASETS.map(
        (d) => JSON.stringify(d.defaultEps('linf', d.shape.bounds ?? { lo: 0, hi: 1 })) + JSON.stringify(d.defaultEps('l2', d.shape.bounds ?? { lo: 0, hi: 1 })) + String(d.shape.bounds === null),
      ),
    ).size,
  );
});
