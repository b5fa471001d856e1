#!/usr/bin/env node
/**
 * The one list of the system (Debian) packages the tests need, and the one
 * place that installs them. `npm test` runs it first (pretest) and `.ci/run`
 * calls it; the tests ask it through test/system-deps.ts.
 *
 *   node scripts/system-deps.mjs            install what is missing where it can
 *                                           (root + apt-get), else report it; exit 0
 *   node scripts/system-deps.mjs --check    report only, never installs: one line per
 *                                           package, "<package> present|missing <file> <tests>"
 *   node scripts/system-deps.mjs --json     the table with presence and the skip log's path,
 *                                           for test/system-deps.ts
 *   node scripts/system-deps.mjs --summary  one line: which tests were skipped for which
 *                                           missing packages in the last run (npm posttest)
 *
 * A test that needs a missing package is skipped (and counted in the summary);
 * with CI=true it fails instead. VICINAL_SYSTEM_DEPS_ABSENT=pkg1,pkg2 makes the
 * named packages count as missing (and never installs them), to try that path.
 */
import { spawnSync } from 'node:child_process';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { fileURLToPath } from 'node:url';

/**
 * package: the Debian package. provides: an absolute file, or a command looked
 * up in PATH, whose presence means the package is there. override: an env var
 * that, when set, names the file to use instead. tests: the test files (under
 * test/) that need it, each calling needsSystemPackage('<package>', __filename).
 */
const SYSTEM_PACKAGES = [
  {
    package: 'chromium',
    provides: '/usr/bin/chromium',
    override: 'CHROMIUM_PATH',
    tests: ['test/reports/html.test.ts', 'test/suite/save-adversarial.test.ts'],
    why: 'the HTML reports are opened in headless Chromium (playwright-core, no browser download)',
  },
  {
    package: 'dataset-fashion-mnist',
    provides: '/usr/share/datasets/fashion-mnist/train-images-idx3-ubyte.gz',
    tests: [
      'test/data/fashion-mnist.test.ts',
      'test/models/fashion-accuracy.test.ts',
      'test/data/cifar.test.ts',
      'test/models/resnet.test.ts',
      'test/models/resnet-standin.test.ts',
      'test/suite/cifar-quick-standin.test.ts',
    ],
    why: 'the fashion-mnist dataset reads the original IDX files it installs (data/datasets/fashion-mnist.ts)',
  },
  {
    package: 'slurm-wlm',
    provides: '/usr/sbin/slurmctld',
    tests: ['test/suite/slurm.test.ts'],
    why: 'the scale-out test runs a study as a job array on a single-node Slurm it starts (slurmctld, slurmd, sbatch)',
  },
  {
    package: 'python3-torch',
    provides: '/usr/lib/python3/dist-packages/torch/__init__.py',
    tests: ['test/backend/onnx-pytorch-fixtures.test.ts'],
    why: 'scripts/make-onnx-fixtures.py exports the PyTorch reference models of the ONNX differentiator; the test regenerates them and compares with the committed ones (the fixtures themselves need no torch)',
  },
  {
    package: 'munge',
    provides: '/usr/sbin/munged',
    tests: ['test/suite/slurm.test.ts'],
    why: "Slurm's authentication daemon, started by the same test with its own key and socket",
  },
];

const ROOT = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..');
const STATE_DIR = path.join(ROOT, 'node_modules', '.cache', 'vicinal-system-deps');
/** Lines of JSON {package, test, title} appended by test/system-deps.ts for each skipped test. */
const SKIP_LOG = path.join(STATE_DIR, 'skipped.jsonl');

const installCommand = (pkgs) => `sudo apt-get install -y ${pkgs.join(' ')}`;

/** Absolute path of an executable command found in PATH, or null. */
function which(cmd) {
  for (const dir of (process.env.PATH ?? '').split(path.delimiter)) {
    if (!dir) continue;
    const f = path.join(dir, cmd);
    try {
      fs.accessSync(f, fs.constants.X_OK);
      if (fs.statSync(f).isFile()) return f;
    } catch {
      // not here
    }
  }
  return null;
}

const forcedAbsent = () =>
  new Set(
    (process.env.VICINAL_SYSTEM_DEPS_ABSENT ?? '')
      .split(',')
      .map((s) => s.trim())
      .filter(Boolean),
  );

/** The table with, per package, the file checked and whether it is present. */
function status() {
  const absent = forcedAbsent();
  return SYSTEM_PACKAGES.map((p) => {
    const file = (p.override && process.env[p.override]) || p.provides;
    const found = path.isAbsolute(file) ? (fs.existsSync(file) ? file : null) : which(file);
    return { ...p, file, forced: absent.has(p.package), present: !absent.has(p.package) && found !== null };
  });
}

const say = (msg) => process.stderr.write(`system-deps: ${msg}\n`);

/** Tries apt-get; returns a reason when it cannot (or did not) install. */
function aptInstall(pkgs) {
  if (process.getuid?.() !== 0) return 'not root';
  if (!which('apt-get')) return 'no apt-get';
  say(`installing ${pkgs.join(' ')} with apt-get (needed by the tests)`);
  const env = { ...process.env, DEBIAN_FRONTEND: 'noninteractive' };
  const quiet = { env, encoding: 'utf8', stdio: ['ignore', 'pipe', 'pipe'] };
  for (const args of [
    ['update', '-qq'],
    ['install', '-y', '-qq', ...pkgs],
  ]) {
    const r = spawnSync('apt-get', args, quiet);
    if (r.status !== 0) {
      const last = `${r.stderr ?? ''}${r.error ? String(r.error) : ''}`.trim().split('\n').pop();
      return `apt-get ${args[0]} failed${last ? ` (${last})` : ''}`;
    }
  }
  return null;
}

function checkLine(s) {
  return `${s.package} ${s.present ? 'present' : 'missing'} ${s.file} ${s.tests.join(',')}${s.forced ? ' (VICINAL_SYSTEM_DEPS_ABSENT)' : ''}`;
}

function summary() {
  let lines = [];
  try {
    lines = fs
      .readFileSync(SKIP_LOG, 'utf8')
      .split('\n')
      .filter(Boolean)
      .map((l) => JSON.parse(l));
  } catch {
    // no skips recorded
  }
  if (lines.length === 0) return 'system packages: no test skipped';
  const byPkg = new Map();
  for (const { package: pkg, test } of lines) {
    const e = byPkg.get(pkg) ?? { n: 0, files: new Set() };
    e.n++;
    e.files.add(test);
    byPkg.set(pkg, e);
  }
  const n = lines.length;
  const parts = [...byPkg].map(([pkg, e]) => `${pkg} (${e.n} in ${[...e.files].join(', ')})`);
  return `system packages: SKIPPED ${n} test${n === 1 ? '' : 's'} for missing ${parts.join('; ')}; install: ${installCommand([...byPkg.keys()])}`;
}

function main(argv) {
  const mode = argv[0] ?? '';
  if (mode === '--summary') {
    console.log(summary());
    return;
  }
  if (mode === '--json') {
    console.log(JSON.stringify({ skipLog: SKIP_LOG, packages: status() }));
    return;
  }
  if (mode === '--check') {
    for (const s of status()) console.log(checkLine(s));
    return;
  }
  if (mode !== '') {
    say(`unknown option ${mode}; use --check, --json or --summary`);
    process.exitCode = 2;
    return;
  }
  // Default (npm pretest): a new test run starts with no skips recorded.
  fs.rmSync(SKIP_LOG, { force: true });
  let st = status();
  const toInstall = st.filter((s) => !s.present && !s.forced).map((s) => s.package);
  if (toInstall.length > 0) {
    const why = aptInstall(toInstall);
    st = status();
    if (why) say(`cannot install (${why})`);
    else if (st.some((s) => !s.present && !s.forced)) say('apt-get succeeded, yet these are still missing:');
  }
  const missing = st.filter((s) => !s.present);
  if (missing.length === 0) return;
  const ci = process.env.CI === 'true';
  for (const s of missing) {
    say(
      `missing ${s.package} (${s.forced ? 'VICINAL_SYSTEM_DEPS_ABSENT' : `${s.file} not found`}): ${s.tests.join(', ')} will ${ci ? 'FAIL (CI=true)' : 'be skipped'}; install: ${installCommand([s.package])}`,
    );
  }
}

if (process.argv[1] && path.resolve(process.argv[1]) === fileURLToPath(import.meta.url)) main(process.argv.slice(2));
