/** `npm run build` runs this after tsc: writes schema/study.schema.json from the zod schema. */
import * as fs from 'fs';
import * as path from 'path';
import { SCHEMA_FILE, renderStudySchema } from './study-schema';

const text = renderStudySchema();
if (!fs.existsSync(SCHEMA_FILE) || fs.readFileSync(SCHEMA_FILE, 'utf8') !== text) {
  fs.mkdirSync(path.dirname(SCHEMA_FILE), { recursive: true });
  fs.writeFileSync(SCHEMA_FILE, text);
  console.log(`wrote ${path.relative(process.cwd(), SCHEMA_FILE)}`);
}
