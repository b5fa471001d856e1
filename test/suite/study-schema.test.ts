/**
 * The JSON Schema of the study config (schema/study.schema.json): the
 * committed file is what the zod schema generates, every shipped profile
 * validates against it (with Ajv, as an editor would) and names it in its
 * yaml-language-server modeline, and Ajv and zod agree on valid variants and
 * on a set of invalid configs, each invalid for one reason.
 */
import test from 'ava';
import Ajv from 'ajv';
import * as fs from 'fs';
import * as path from 'path';
import YAML from 'yaml';
import { PROFILE_DIR, studySchema } from '../../suite/config';
import { SCHEMA_FILE, renderStudySchema, studyJsonSchema } from '../../suite/study-schema';

const ajv = new Ajv({ allErrors: true, allowUnionTypes: true });
const validate = ajv.compile(JSON.parse(fs.readFileSync(SCHEMA_FILE, 'utf8')));
const profiles = fs.readdirSync(PROFILE_DIR).filter((f) => f.endsWith('.yaml'));
const quick = () => YAML.parse(fs.readFileSync(path.join(PROFILE_DIR, 'quick.yaml'), 'utf8'));

test('the committed schema file is the one the zod schema generates (npm run build rewrites it)', (t) => {
  t.is(fs.readFileSync(SCHEMA_FILE, 'utf8'), renderStudySchema());
  t.is(studyJsonSchema().$schema, 'http://json-schema.org/draft-07/schema#');
});

test('every shipped profile validates against the schema and names it in its yaml-language-server modeline', (t) => {
  t.deepEqual(profiles.sort(), ['cifar-quick.yaml', 'cifar.yaml', 'full.yaml', 'nightly.yaml', 'quick.yaml']);
  for (const f of profiles) {
    const file = path.join(PROFILE_DIR, f);
    const text = fs.readFileSync(file, 'utf8');
    const m = /^# yaml-language-server: \$schema=(\S+)$/m.exec(text.split('\n')[0]);
    if (!m) return t.fail(`${f}: no yaml-language-server modeline on its first line`);
    t.is(path.resolve(PROFILE_DIR, m[1]), path.resolve(SCHEMA_FILE), `${f}: the modeline points at the schema`);
    const config = YAML.parse(text);
    t.true(validate(config), `${f}: ${ajv.errorsText(validate.errors)}`);
    t.true(studySchema.safeParse(config).success, `${f}: zod`);
  }
});

// biome-ignore lint/suspicious/noExplicitAny: configs of any shape, mutated field by field
type Mutation = [string, (c: Record<string, any>) => void];

// Each config is invalid for one reason the JSON Schema can express; zod must refuse it too.
const INVALID: Mutation[] = [
  ['unknown top-level key', (c) => (c.seed = [0])],
  ['no schemes', (c) => delete c.schemes],
  ['empty seeds', (c) => (c.seeds = [])],
  ['negative seed', (c) => (c.seeds = [0, -1])],
  ['fractional seed', (c) => (c.seeds = [0.5])],
  ['seeds not a list', (c) => (c.seeds = 3)],
  ['unknown backend', (c) => (c.backend = 'gpu')],
  ['empty name', (c) => (c.name = '')],
  ['unknown model arch', (c) => (c.experiments[0].models[0].arch = 'transformer')],
  ['unknown dataset', (c) => (c.experiments[0].dataset.name = 'imagenet')],
  ['negative eps', (c) => (c.experiments[0].eval.eps = [0.1, -0.1])],
  ['empty eps', (c) => (c.experiments[0].eval.eps = [])],
  ['nExamples as a string', (c) => (c.experiments[0].eval.nExamples = '500')],
  ['unknown eval key', (c) => (c.experiments[1].eval.nExample = 10)],
  ['unknown optimizer', (c) => (c.experiments[0].train.optimizer = 'rmsprop')],
  ['momentum of 1 (must be < 1)', (c) => (c.experiments[0].train.momentum = 1)],
  ['batchSize 0', (c) => (c.experiments[0].train.batchSize = 0)],
  ['scheme without a name', (c) => delete c.schemes[0].name],
  ['empty sweep list', (c) => (c.schemes[1].sweep = { alpha: [] })],
  ['transfer.enabled as a string', (c) => (c.transfer = { enabled: 'yes' })],
  ['no experiments', (c) => (c.experiments = [])],
  ['filters of three numbers', (c) => (c.experiments[0].models[0].filters = [8, 16, 32])],
];

const VALID: Mutation[] = [
  ['the profile as it is', () => {}],
  [
    'defaults omitted (name, backend, seeds, probes, train)',
    (c) => {
      for (const k of ['name', 'backend', 'seeds', 'probes']) delete c[k];
      delete c.experiments[0].train;
    },
  ],
  ['scheme params of any shape', (c) => (c.schemes[1].params = { alpha: 0.4, lambdaPer: 'example' })],
  ['dataset keys the descriptor declares', (c) => (c.experiments[0].dataset.seed = 3)],
  ['transfer and thresholds set', (c) => Object.assign(c, { transfer: { enabled: true }, thresholds: { cleanAccuracyDrop: 0.02 } })],
];

test(`Ajv (the JSON Schema) and zod agree: ${INVALID.length} invalid configs refused by both, ${VALID.length} valid variants accepted by both`, (t) => {
  t.true(INVALID.length >= 8);
  for (const [what, mutate] of INVALID) {
    const c = quick();
    mutate(c);
    t.false(validate(c), `JSON Schema accepts: ${what}`);
    const z = studySchema.safeParse(c);
    if (z.success) return t.fail(`zod accepts: ${what}`);
    // Both blame the same field: zod's first issue is among the fields Ajv names.
    const issue = z.error.issues[0];
    const zodField = `/${[...issue.path, ...(issue.code === 'unrecognized_keys' ? [issue.keys[0]] : [])].join('/')}`;
    const ajvFields = (validate.errors ?? []).map((e) => {
      const key = (e.params as { additionalProperty?: string; missingProperty?: string }).additionalProperty ?? (e.params as { missingProperty?: string }).missingProperty;
      return `${e.instancePath}${key !== undefined ? `/${key}` : ''}`;
    });
    t.true(ajvFields.includes(zodField), `${what}: zod blames ${zodField}, Ajv ${ajvFields.join(', ')}`);
  }
  for (const [what, mutate] of VALID) {
    const c = quick();
    mutate(c);
    t.true(validate(c), `JSON Schema refuses: ${what}: ${ajv.errorsText(validate.errors)}`);
    t.true(studySchema.safeParse(c).success, `zod refuses: ${what}`);
  }
});
