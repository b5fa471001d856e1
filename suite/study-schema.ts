/**
 * The JSON Schema of a study config, generated from the zod schema
 * (suite/config.ts), so editors complete and check the YAML profiles
 * (`# yaml-language-server: $schema=...` at their top) and `--set` knows
 * which paths exist. It describes the input: fields with defaults are
 * optional. Checks zod makes in code (a dataset's own keys, saveAdversarial
 * <= nExamples, registered scheme and attack names) are not in it; the zod
 * schema stays the one that decides. `npm run build` writes it to
 * schema/study.schema.json, and a test keeps that file equal to this.
 */
import * as path from 'path';
import { z } from 'zod';
import { studySchema } from './config';

export const SCHEMA_FILE = path.join(__dirname, '..', '..', 'schema', 'study.schema.json');

/** The JSON Schema (draft-07, which editors' YAML support reads) of a study config as written. */
export function studyJsonSchema(): Record<string, unknown> {
  const generated = z.toJSONSchema(studySchema, { io: 'input', target: 'draft-7', unrepresentable: 'any' }) as Record<string, unknown>;
  const { $schema, ...rest } = generated;
  return {
    $schema,
    title: 'vicinal study config',
    $comment: 'Generated from the zod schema in suite/config.ts by `npm run build` (suite/write-schema.ts); do not edit.',
    ...rest,
  };
}

/** The schema file's text. */
export function renderStudySchema(): string {
  return `${JSON.stringify(studyJsonSchema(), null, 2)}\n`;
}
