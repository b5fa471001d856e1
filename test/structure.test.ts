import test from 'ava';
import * as fs from 'fs';
import * as path from 'path';

// The architecture, checked: imports only run downward through these layers, and no
// module is part of an import cycle. Lower layers never import from higher ones.
const LAYERS = ['contract', 'data', 'backend', 'attacks', 'models', 'eval', 'reports', 'bench', 'suite'] as const;
const ROOT = path.join(__dirname, '..', '..');

function sources(dir: string): string[] {
  const out: string[] = [];
  for (const e of fs.readdirSync(dir, { withFileTypes: true })) {
    const p = path.join(dir, e.name);
    if (e.isDirectory()) out.push(...sources(p));
    else if (p.endsWith('.ts')) out.push(p);
  }
  return out;
}

/**
 * The relative module specifiers a source text loads, in order: static
 * `import ... from`, `export ... from`, side-effect `import '...'`, dynamic
 * `import('...')` and `require('...')` (cli.ts loads its commands that way).
 */
function relativeSpecifiers(source: string): string[] {
  const out: string[] = [];
  for (const m of source.matchAll(/(?:\bfrom|\bimport|\brequire)\s*\(?\s*(['"])(\.{1,2}\/[^'"]+)\1/g)) out.push(m[2]);
  return out;
}

/** Repo-relative module ids (no extension) each source file imports (relative imports only). */
function importGraph(): Map<string, string[]> {
  const graph = new Map<string, string[]>();
  for (const layer of LAYERS) {
    for (const file of sources(path.join(ROOT, layer))) {
      const id = path.relative(ROOT, file).replace(/\.ts$/, '');
      const deps: string[] = [];
      for (const spec of relativeSpecifiers(fs.readFileSync(file, 'utf8'))) {
        let dep = path.normalize(path.join(path.dirname(id), spec));
        if (fs.existsSync(path.join(ROOT, dep)) && fs.statSync(path.join(ROOT, dep)).isDirectory()) dep = path.join(dep, 'index');
        deps.push(dep);
      }
      graph.set(id, deps);
    }
  }
  return graph;
}

test('the import extractor sees every form of loading a module', (t) => {
  const sample = [
    "import { a } from './static';",
    "import type { B } from '../types';",
    'import * as c from "./double-quoted";',
    "export { d } from './re-export';",
    "import './side-effect';",
    "const e = await import('./dynamic');",
    "const f = require('./required').command;",
    "const g = require( '../spaced' );",
    "import * as fs from 'fs';",
    "const h = require('tfjs');",
    "const fromage = 'from';",
  ].join('\n');
  t.deepEqual(relativeSpecifiers(sample), ['./static', '../types', './double-quoted', './re-export', './side-effect', './dynamic', './required', '../spaced']);
});

test('the graph holds the edges require() makes: the CLI loads its commands, which import the Command type from below', (t) => {
  const graph = importGraph();
  const cli = graph.get(path.join('suite', 'cli')) ?? [];
  t.true(cli.includes(path.join('suite', 'commands', 'run')));
  t.true((graph.get(path.join('suite', 'commands', 'run')) ?? []).includes(path.join('suite', 'command')));
});

const layerOf = (id: string): number => LAYERS.indexOf(id.split(path.sep)[0] as (typeof LAYERS)[number]);

test('imports run downward: no layer imports from a layer above it', (t) => {
  const upward: string[] = [];
  for (const [id, deps] of importGraph()) {
    for (const d of deps) if (layerOf(d) > layerOf(id)) upward.push(`${id} -> ${d}`);
  }
  t.deepEqual(upward, []);
});

test('the contract imports nothing but itself', (t) => {
  const outside = [...importGraph()].filter(([id]) => id.startsWith('contract')).flatMap(([id, deps]) => deps.filter((d) => !d.startsWith('contract')).map((d) => `${id} -> ${d}`));
  t.deepEqual(outside, []);
});

test('no import cycles between modules', (t) => {
  const graph = importGraph();
  const state = new Map<string, 'open' | 'done'>();
  const cycles: string[] = [];
  const visit = (id: string, stack: string[]): void => {
    if (state.get(id) === 'done') return;
    if (state.get(id) === 'open') {
      cycles.push([...stack.slice(stack.indexOf(id)), id].join(' -> '));
      return;
    }
    state.set(id, 'open');
    for (const d of graph.get(id) ?? []) visit(d, [...stack, id]);
    state.set(id, 'done');
  };
  for (const id of graph.keys()) visit(id, []);
  t.deepEqual(cycles, []);
});
