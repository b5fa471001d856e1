import test from 'ava';
import * as fc from 'fast-check';
import {
  ballKey,
  epsLabel,
  epsText,
  parseBallKey,
  parseEpsText,
  parseProbeColumnKey,
  parseProbeKey,
  parseRobustKey,
  parseTransferAttackName,
  parseWorstCaseKey,
  PROBE_SETS,
  probeColumnKey,
  probeKey,
  robustColumnKey,
  robustKey,
  transferAttackName,
  WORST_CASE,
  worstCaseKey,
  worstColumnKey,
} from '../../contract/keys';

const eps = fc.double({ noNaN: true, noDefaultInfinity: true, min: 0 });
const norm = fc.constantFrom('linf', 'l2');
/** Attack names as results write them, including transfer names and odd characters. */
const attack = fc.oneof(
  fc.constantFrom('fgsm', 'pgd', 'apgd-ce', 'apgd-t', 'square', 'autoattack', 'noise'),
  fc.string({ minLength: 1 }).map((s) => `transfer:${s}`),
  fc.string({ minLength: 1 }).filter((s) => !s.startsWith('@')),
);

test('ε round-trips exactly: parse(build(eps)) is the same double, for every finite eps >= 0', (t) => {
  fc.assert(
    fc.property(eps, (e) => {
      const back = parseEpsText(epsText(e));
      return back !== null && Object.is(back, e === 0 ? 0 : e);
    }),
    { numRuns: 2000 },
  );
  // neighbouring doubles get different keys: no two radii share one
  fc.assert(
    fc.property(fc.double({ noNaN: true, noDefaultInfinity: true, min: 1e-300, max: 1e300 }), (e) => {
      const next = e * (1 + Number.EPSILON);
      return next === e || robustKey('pgd', 'linf', e) !== robustKey('pgd', 'linf', next);
    }),
  );
  // known answers, and texts that are not canonical do not parse (no tolerance, no second spelling)
  t.is(robustKey('pgd', 'linf', 0.1), 'pgd@linf:0.1');
  t.is(robustKey('pgd', 'linf', 0.1 + 0.2), 'pgd@linf:0.30000000000000004');
  t.is(parseRobustKey('pgd@linf:0.30000000000000004')?.eps, 0.1 + 0.2);
  t.not(parseRobustKey('pgd@linf:0.30000000000000004')?.eps, 0.3);
  t.is(epsText(-0), '0');
  t.is(epsText(1e-7), '1e-7');
  for (const bad of ['0.10', '1e-1', '.1', '+0.1', ' 0.1', '', 'NaN', 'Infinity', '0x10']) t.is(parseEpsText(bad), null, bad);
  t.throws(() => epsText(Number.NaN));
  t.throws(() => epsText(Number.POSITIVE_INFINITY));
});

test('attack keys round-trip: parseRobustKey(robustKey(a, n, e)) = (a, n, e), whatever the attack name holds', (t) => {
  fc.assert(
    fc.property(attack, norm, eps, (a, n, e) => {
      const p = parseRobustKey(robustKey(a, n, e));
      return p !== null && p.attack === a && p.norm === n && Object.is(p.eps, e === 0 ? 0 : e);
    }),
    { numRuns: 1000 },
  );
  t.deepEqual(parseRobustKey('transfer:erm@linf:0.3'), { attack: 'transfer:erm', norm: 'linf', eps: 0.3 });
  for (const bad of ['pgd', 'pgd@linf', '@linf:0.1', 'pgd@LINF:0.1', 'pgd@linf:0.1:2', 'pgd@linf:-x']) t.is(parseRobustKey(bad), null, bad);
});

test('worst-case keys are robust keys of the worst-case "attack" and parse back; other keys are no worst case', (t) => {
  fc.assert(
    fc.property(norm, eps, (n, e) => {
      const k = worstCaseKey(n as 'linf' | 'l2', e);
      const p = parseWorstCaseKey(k);
      return k === robustKey(WORST_CASE, n, e) && p !== null && p.norm === n && p.eps === e;
    }),
  );
  t.is(worstCaseKey('l2', 0.5), 'worst-case@l2:0.5');
  t.is(parseWorstCaseKey('pgd@linf:0.1'), null);
});

test('transfer names round-trip through the source name', (t) => {
  fc.assert(fc.property(fc.string({ minLength: 1 }), (s) => parseTransferAttackName(transferAttackName(s)) === s));
  t.is(transferAttackName('erm'), 'transfer:erm');
  t.is(parseTransferAttackName('pgd'), null);
  t.is(parseTransferAttackName('transfer:'), null);
  t.throws(() => transferAttackName(''));
});

test('probe keys round-trip: family and set, or family and ball', (t) => {
  const family = fc.constantFrom('grad-l1', 'grad-l2', 'loss', 'local-lipschitz', 'first-order/ratio', 'first-order/predicted');
  fc.assert(
    fc.property(family, fc.constantFrom(...PROBE_SETS), (f, s) => {
      const p = parseProbeKey(probeKey(f, s));
      return p.family === f && p.location === s && p.ball === null;
    }),
  );
  fc.assert(
    fc.property(family, norm, eps, (f, n, e) => {
      const k = probeKey(f, { norm: n, eps: e });
      const p = parseProbeKey(k);
      return p.family === f && p.location === ballKey(n, e) && p.ball !== null && p.ball.norm === n && p.ball.eps === e && k === `${f}@${ballKey(n, e)}`;
    }),
  );
  t.deepEqual(parseProbeKey('grad-l1/test'), { family: 'grad-l1', location: 'test', ball: null });
  t.deepEqual(parseProbeKey('local-lipschitz@linf:0.3'), { family: 'local-lipschitz', location: 'linf:0.3', ball: { norm: 'linf', eps: 0.3 } });
  t.deepEqual(parseProbeKey('margin-first-order'), { family: 'margin', location: 'margin-first-order', ball: null });
  t.deepEqual(parseProbeKey('margin'), { family: 'margin', location: 'margin', ball: null });
  t.deepEqual(parseBallKey('linf:0.05'), { norm: 'linf', eps: 0.05 });
  t.is(parseBallKey('test'), null);
});

test('summary column keys: robust, worst and probe columns keep their pinned spelling and share the ε text', (t) => {
  t.is(robustColumnKey('pgd', 'linf', 0.1), 'robust:pgd@linf:0.1');
  t.is(worstColumnKey('l2', 0.5), 'worst@l2:0.5');
  t.is(probeColumnKey('grad-l1/test'), 'probe:grad-l1/test');
  fc.assert(fc.property(attack, norm, eps, (a, n, e) => robustColumnKey(a, n, e) === `robust:${robustKey(a, n, e)}` && worstColumnKey(n, e).endsWith(`@${ballKey(n, e)}`)));
  fc.assert(fc.property(fc.string(), (p) => parseProbeColumnKey(probeColumnKey(p)) === p));
  t.is(parseProbeColumnKey('worst@linf:0.1'), null);
});

test('epsLabel: k/255 exactly when ε is the double k/255 (the CIFAR radii read 2/255, 4/255, 8/255), else the key text', (t) => {
  t.is(epsLabel(2 / 255), '2/255');
  t.is(epsLabel(0.03137254901960784), '8/255');
  t.is(epsLabel(0.1), '0.1');
  t.is(epsLabel(0.3), '0.3');
  // 0.2 is also exactly 51/255: its short decimal wins.
  t.is(epsLabel(0.2), '0.2');
  t.is(51 / 255, 0.2);
  t.is(epsLabel(1), '1');
  t.is(epsLabel(0), '0');
  // One ulp off k/255 is not k/255.
  t.is(epsLabel(8 / 255 + 2 ** -57), String(8 / 255 + 2 ** -57));
  fc.assert(fc.property(fc.integer({ min: 1, max: 254 }), (k) => epsLabel(k / 255) === (String(k / 255).length <= 6 ? String(k / 255) : `${k}/255`)));
  // A label never stands for another double: parsing k/255 gives ε back.
  fc.assert(
    fc.property(fc.double({ min: 0, max: 2, noNaN: true }), (e) => {
      const l = epsLabel(e);
      const back = l.includes('/') ? Number(l.split('/')[0]) / 255 : Number(l);
      return back === e || (e === 0 && back === 0);
    }),
  );
});
