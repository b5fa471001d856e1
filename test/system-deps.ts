/**
 * Gate for tests that need a system (Debian) package listed in
 * scripts/system-deps.mjs. Where the package is missing each gated test is
 * skipped and recorded, so `npm test` ends with a line naming it; with
 * CI=true it fails instead, naming the package and the install command.
 * test/system-deps.test.ts checks that the needsSystemPackage(<package>, __filename)
 * calls under test/ match the script's table, both ways.
 */
import test, { ImplementationFn } from 'ava';
import { spawnSync } from 'child_process';
import * as fs from 'fs';
import * as path from 'path';

export const REPO_ROOT = path.resolve(__dirname, '..', '..');
export const SYSTEM_DEPS_SCRIPT = path.join(REPO_ROOT, 'scripts', 'system-deps.mjs');

export interface SystemPackageStatus {
  package: string;
  /** The file or command checked (the override env var's value when set). */
  file: string;
  present: boolean;
  /** Counted as missing because VICINAL_SYSTEM_DEPS_ABSENT names it. */
  forced: boolean;
  tests: string[];
}

/** The script's table with presence, as `--json` prints it. */
export function systemDeps(): { skipLog: string; packages: SystemPackageStatus[] } {
  const r = spawnSync(process.execPath, [SYSTEM_DEPS_SCRIPT, '--json'], { encoding: 'utf8' });
  if (r.status !== 0) throw new Error(`${SYSTEM_DEPS_SCRIPT} --json failed: ${r.stderr}`);
  return JSON.parse(r.stdout);
}

type Register = (title: string, impl: ImplementationFn<[]>) => void;

export interface SystemPackageGate {
  present: boolean;
  /** The file to use (e.g. the chromium binary). */
  file: string;
  /** test.serial when present; else a recorded skip, or under CI=true a failing test. */
  serial: Register;
}

/**
 * `testFile` is the caller's __filename. Throws if the package is not in the
 * script's table for that test file.
 */
export function needsSystemPackage(pkg: string, testFile: string): SystemPackageGate {
  const { skipLog, packages } = systemDeps();
  const source = path.relative(path.join(REPO_ROOT, 'dist'), testFile).replace(/\.js$/, '.ts').split(path.sep).join('/');
  const s = packages.find((p) => p.package === pkg);
  if (!s?.tests.includes(source)) throw new Error(`add ${source} to the tests of "${pkg}" in scripts/system-deps.mjs`);
  if (s.present) return { present: true, file: s.file, serial: (title, impl) => test.serial(title, impl) };
  const message = `needs the system package ${pkg} (${s.forced ? 'VICINAL_SYSTEM_DEPS_ABSENT' : `${s.file} not found`}): sudo apt-get install -y ${pkg}`;
  const serial: Register =
    process.env.CI === 'true'
      ? (title) => test.serial(title, (t) => t.fail(`CI=true: ${message}`))
      : (title, impl) => {
          fs.mkdirSync(path.dirname(skipLog), { recursive: true });
          fs.appendFileSync(skipLog, `${JSON.stringify({ package: pkg, test: source, title })}\n`);
          test.serial.skip(title, impl);
        };
  return { present: false, file: s.file, serial };
}
