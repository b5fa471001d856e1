/**
 * scripts/system-deps.mjs: `--check` lists exactly the packages the tests ask
 * for through needsSystemPackage, and never installs anything.
 */
import test from 'ava';
import { spawnSync } from 'child_process';
import * as fs from 'fs';
import * as os from 'os';
import * as path from 'path';
import { REPO_ROOT, SYSTEM_DEPS_SCRIPT } from './system-deps';

function sources(dir: string): string[] {
  return fs.readdirSync(dir, { withFileTypes: true }).flatMap((e) => {
    const f = path.join(dir, e.name);
    return e.isDirectory() ? sources(f) : f.endsWith('.ts') ? [f] : [];
  });
}

/** "package test-file" for every needsSystemPackage(<package literal>, __filename) call in test/. */
function declared(): string[] {
  const pairs = new Set<string>();
  for (const f of sources(path.join(REPO_ROOT, 'test'))) {
    const rel = path.relative(REPO_ROOT, f).split(path.sep).join('/');
    for (const m of fs.readFileSync(f, 'utf8').matchAll(/needsSystemPackage\(\s*'([^']+)',\s*__filename\s*\)/g)) pairs.add(`${m[1]} ${rel}`);
  }
  return [...pairs].sort();
}

function check(env: NodeJS.ProcessEnv) {
  const r = spawnSync(process.execPath, [SYSTEM_DEPS_SCRIPT, '--check'], { encoding: 'utf8', env });
  const rows = r.stdout
    .trim()
    .split('\n')
    .map((l) => l.split(' '));
  return { r, rows };
}

test('--check lists exactly the packages the tests declare, each present or missing', (t) => {
  const { r, rows } = check(process.env);
  t.is(r.status, 0, r.stderr);
  const listed = rows.flatMap(([pkg, , , tests]) => tests.split(',').map((f) => `${pkg} ${f}`)).sort();
  t.true(declared().length > 0);
  t.deepEqual(listed, declared(), 'scripts/system-deps.mjs table vs needsSystemPackage calls under test/');
  for (const [, state] of rows) t.true(state === 'present' || state === 'missing');
});

test('--check never installs: with a stand-in apt-get first in PATH and chromium missing it reports and exits 0', (t) => {
  const bin = fs.mkdtempSync(path.join(os.tmpdir(), 'vicinal-sysdeps-'));
  const marker = path.join(bin, 'apt-get-ran');
  fs.writeFileSync(path.join(bin, 'apt-get'), `#!/bin/sh\necho "$@" >> ${marker}\n`, { mode: 0o755 });
  try {
    const env = { ...process.env, PATH: bin, CHROMIUM_PATH: path.join(bin, 'no-chromium'), VICINAL_SYSTEM_DEPS_ABSENT: '' };
    const { r, rows } = check(env);
    t.is(r.status, 0, r.stderr);
    t.deepEqual(rows.find((row) => row[0] === 'chromium')?.slice(0, 2), ['chromium', 'missing']);
    t.false(fs.existsSync(marker), '--check ran apt-get');
    // The default mode does reach for apt-get in the same setup when it can (root). It
    // runs from a copy, so its state (the skip log of this very test run) is the copy's.
    const copy = path.join(bin, 'repo', 'scripts', 'system-deps.mjs');
    fs.mkdirSync(path.dirname(copy), { recursive: true });
    fs.copyFileSync(SYSTEM_DEPS_SCRIPT, copy);
    const d = spawnSync(process.execPath, [copy], { encoding: 'utf8', env });
    t.is(d.status, 0, d.stderr);
    t.regex(d.stderr, /missing chromium .*install: sudo apt-get install -y chromium/);
    if (process.getuid?.() === 0) t.regex(fs.readFileSync(marker, 'utf8'), /install -y -qq chromium/);
    else t.regex(d.stderr, /not root/);
    // Still nothing without apt-get at all.
    const empty = spawnSync(process.execPath, [SYSTEM_DEPS_SCRIPT, '--check'], { encoding: 'utf8', env: { ...env, PATH: '' } });
    t.is(empty.status, 0, empty.stderr);
  } finally {
    fs.rmSync(bin, { recursive: true, force: true });
  }
});
