import test from 'ava';
import * as fs from 'fs';
import * as path from 'path';
import * as tf from '@tensorflow/tfjs';
import { pgdPerturb, pgdStepSize } from '../../attacks/pgd';
import { ATTACK_LOSSES } from '../../attacks/losses';
import { ATTACK_DESCRIPTORS, ATTACK_NAMES, attackDescriptor, attackTableMarkdown, buildAttack, resolveAttackParams } from '../../attacks/registry';
import { ATTACK_FAMILIES } from '../../attacks/types';
import { Classifier } from '../../contract/classifier';
import { NORMS } from '../../contract/norms';
import { Rng } from '../../data/rng';
import { adversarialDefaults, resolveAdversarialParams } from '../../models/schemes/adversarial';
import { Dataset } from '../../data/types';

const ROOT = path.join(__dirname, '..', '..', '..');

test('every registered attack states every fact of its descriptor', (t) => {
  t.deepEqual(
    [...ATTACK_NAMES],
    ATTACK_DESCRIPTORS.map((d) => d.name),
  );
  t.is(new Set(ATTACK_NAMES).size, ATTACK_NAMES.length);
  for (const d of ATTACK_DESCRIPTORS) {
    t.is(attackDescriptor(d.name), d);
    t.true(d.summary.length > 10, `${d.name}: summary`);
    t.true((ATTACK_FAMILIES as readonly string[]).includes(d.family), `${d.name}: family`);
    t.true(d.norms.length > 0 && d.norms.every((n) => (NORMS as readonly string[]).includes(n)), `${d.name}: norms`);
    t.is(typeof d.argmaxOnly, 'boolean');
    for (const [k, rule] of Object.entries(d.params)) {
      t.true(['int', 'number', 'boolean', 'enum'].includes(rule.kind), `${d.name}.${k}: kind`);
      if (rule.kind === 'enum') t.true((rule.values ?? []).length > 0, `${d.name}.${k}: values`);
    }
    for (const norm of d.norms) {
      const p = resolveAttackParams({ name: d.name }, norm).params;
      // every default is a declared parameter and passes its own rule
      for (const k of Object.keys(p)) t.true(k in d.params, `${d.name}: default ${k} is a parameter`);
      t.deepEqual(resolveAttackParams({ name: d.name, params: p }, norm).params, p, `${d.name}: defaults resolve to themselves`);
      for (const classes of [2, 10]) {
        const c = d.cost(p, classes);
        t.true(Number.isFinite(c.forward) && c.forward >= 1 && Number.isFinite(c.gradient) && c.gradient >= 0, `${d.name}: cost`);
      }
      const loss = d.loss(p);
      t.true(loss === null || (ATTACK_LOSSES as readonly string[]).includes(loss), `${d.name}: loss`);
      t.is(typeof d.scaleInvariant(p), 'boolean');
      // an argmax-only attack has no loss and no gradient
      if (d.argmaxOnly) t.true(loss === null && d.cost(p, 10).gradient === 0, `${d.name}: argmax-only`);
      const other = d.invariantCounterpart(p);
      if (other) {
        const r = resolveAttackParams(other, norm);
        t.true(attackDescriptor(r.name).scaleInvariant(r.params), `${d.name}: its counterpart is scale-invariant`);
        t.is(loss, 'ce', `${d.name}: only a CE attack has a counterpart`);
      }
      const attack = buildAttack({ name: d.name, norm, params: p });
      t.is(attack.name, d.name);
      t.is(attack.norm, norm);
    }
  }
  // the facts the checks relied on before they moved into the descriptors
  t.deepEqual(
    ATTACK_DESCRIPTORS.filter((d) => d.scaleInvariant(resolveAttackParams({ name: d.name }, d.norms[0]).params)).map((d) => d.name),
    ['apgd-dlr', 'apgd-t', 'fab-t', 'square', 'autoattack'],
  );
  t.deepEqual(
    ATTACK_DESCRIPTORS.filter((d) => d.argmaxOnly).map((d) => d.name),
    ['noise'],
  );
  t.true(attackDescriptor('pgd').scaleInvariant({ loss: 'margin' }));
  t.false(attackDescriptor('square').scaleInvariant({ loss: 'ce' }));
});

/**
 * A classifier that counts the rows it sees, split into forward passes and
 * gradient passes (called under a gradient tape), and that nothing can break:
 * class 0 leads by 10 logits and an input in [0, 1]^4 moves a logit by at most 0.04.
 */
function countingClassifier(): { f: Classifier; counts: { forward: number; gradient: number } } {
  const counts = { forward: 0, gradient: 0 };
  const w = tf.keep(tf.mul(tf.randomUniform([4, 4], -1, 1, 'float32', 7), 0.01));
  const bias = tf.keep(tf.tensor1d([10, 0, 0, 0]));
  const f: Classifier = (x) => {
    const rows = x.shape[0];
    // The one-row probes that read the number of classes are no pass over the batch.
    if (rows > 1) {
      const taped = (tf.engine() as unknown as { state: { gradientDepth: number } }).state.gradientDepth > 0;
      counts[taped ? 'gradient' : 'forward'] += rows;
    }
    return tf.tidy(() => tf.add(tf.matMul(tf.reshape(x, [rows, 4]), w), bias) as tf.Tensor2D);
  };
  return { f, counts };
}

test('cost() equals the passes an attack really makes, counted through the classifier', (t) => {
  const b = 5;
  const rng = new Rng(3);
  const xs = Float32Array.from({ length: b * 4 }, () => rng.uniform());
  const y = new Int32Array(b);
  const cases: [string, Record<string, unknown>][] = [
    ['fgsm', {}],
    ['fgm', {}],
    ['pgd', { steps: 3 }],
    ['pgd', { steps: 3, restarts: 2 }],
    ['pgd', { steps: 3, restarts: 2, randomStart: false }],
    ['apgd-ce', { steps: 5, restarts: 2 }],
    ['apgd-dlr', { steps: 4 }],
    ['apgd-t', { steps: 3, targetClasses: 9 }],
    ['fab-t', { steps: 3, targetClasses: 9 }],
    ['fab-t', { steps: 2, targetClasses: 2, restarts: 2 }],
    ['square', { queries: 7 }],
    ['square', { queries: 7, schedule: 'vicinal-rescaled' }],
    ['noise', { draws: 6 }],
    ['autoattack', { steps: 3, targetClasses: 2, queries: 5 }],
    ['autoattack', { steps: 2, targetClasses: 9, queries: 4, squareSchedule: 'vicinal-rescaled' }],
  ];
  for (const [name, params] of cases) {
    const d = attackDescriptor(name);
    for (const norm of d.norms) {
      const r = resolveAttackParams({ name, params }, norm);
      const { f, counts } = countingClassifier();
      const x = tf.tensor2d(xs, [b, 4]);
      const out = buildAttack(r).run(f, x, y, { lo: 0, hi: 1 }, 0.1, new Rng(1));
      t.is(
        out.success.reduce((a, s) => a + s, 0),
        0,
        `${name}: nothing broken, so every stage ran on every row`,
      );
      out.xAdv.dispose();
      x.dispose();
      t.deepEqual({ forward: counts.forward / b, gradient: counts.gradient / b }, d.cost(r.params, 4), `${name} ${norm} ${JSON.stringify(params)}`);
    }
  }
});

test('the PGD step rule is one function: the registry, pgdPerturb and adversarial training use pgdStepSize', (t) => {
  for (const norm of ['linf', 'l2'] as const) {
    for (const steps of [1, 7, 40, 75, 76, 100, 1000]) {
      t.is(resolveAttackParams({ name: 'pgd', params: { steps } }, norm).params.relStepSize, pgdStepSize(norm, 1, steps));
    }
  }
  // 2.5 eps / steps, and in linf never below eps / 30
  t.is(pgdStepSize('l2', 0.5, 100), (2.5 * 0.5) / 100);
  t.is(pgdStepSize('linf', 0.3, 100), 0.3 / 30);
  t.is(pgdStepSize('linf', 0.1, 7), (2.5 * 0.1) / 7);
  const ds = { name: 'moons', bounds: { lo: 0, hi: 1 } } as unknown as Dataset;
  for (const steps of [7, 100]) t.is(resolveAdversarialParams({ eps: 0.2, steps }, ds).stepSize, pgdStepSize('linf', 0.2, steps));
  t.is(adversarialDefaults('mnist').stepSize, pgdStepSize('linf', 0.1, 7));
  // pgdPerturb without a step size takes the rule's
  const f: Classifier = (x) => tf.tidy(() => tf.matMul(x as tf.Tensor2D, tf.tensor2d([1, -1, -2, 2, 0.5, 0.3], [3, 2])));
  const x = tf.tensor2d([0.2, 0.5, 0.7, 0.9, 0.1, 0.4], [2, 3]);
  const targets = tf.oneHot(tf.tensor1d([0, 1], 'int32'), 2).toFloat() as tf.Tensor2D;
  const cfg = { norm: 'linf' as const, eps: 0.1, steps: 100 };
  const a = pgdPerturb(f, x, targets, { lo: 0, hi: 1 }, cfg, new Rng(2));
  const bOut = pgdPerturb(f, x, targets, { lo: 0, hi: 1 }, { ...cfg, stepSize: pgdStepSize('linf', 0.1, 100) }, new Rng(2));
  t.deepEqual(Array.from(a.dataSync()), Array.from(bOut.dataSync()));
  tf.dispose([x, targets, a, bOut]);
  // and no other source file restates it
  const offenders: string[] = [];
  for (const dir of ['attacks', 'models', 'suite']) {
    for (const file of fs.readdirSync(path.join(ROOT, dir), { recursive: true }) as string[]) {
      if (!file.endsWith('.ts') || path.join(dir, file) === path.join('attacks', 'pgd.ts')) continue;
      const code = fs.readFileSync(path.join(ROOT, dir, file), 'utf8');
      if (/2\.5\s*\*\s*eps|2\.5\s*\/\s*steps|eps\s*\/\s*30/.test(code.replace(/\/\*[\s\S]*?\*\/|\/\/.*$/gm, ''))) offenders.push(path.join(dir, file));
    }
  }
  t.deepEqual(offenders, []);
});

test('docs/attacks.md holds exactly the attack table the descriptors render', (t) => {
  const doc = fs.readFileSync(path.join(ROOT, 'docs', 'attacks.md'), 'utf8');
  const table = attackTableMarkdown();
  t.true(doc.includes(`\n${table}\n`), 'regenerate the table: node -e "console.log(require(\'./dist/attacks/registry\').attackTableMarkdown())"');
  // one row per registered attack
  t.is(table.split('\n').length, 2 + ATTACK_NAMES.length);
});
