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

/** Repo-relative module ids (no extension) each source file imports (relative imports only). */
function importGraph(): Map<string, string[]> {
  const graph = new Map<string, string[]>();
  for (const layer of LAYERS) {
    for (const file of sources(path.join(ROOT, layer))) {
      const id = path.relative(ROOT, file).replace(/\.ts$/, '');
      const deps: string[] = [];
      for (const m of fs.readFileSync(file, 'utf8').matchAll(/(?:from|import)\s*\(?\s*'(\.{1,2}\/[^']+)'/g)) {
        let dep = path.normalize(path.join(path.dirname(id), m[1]));
        if (fs.existsSync(path.join(ROOT, dep)) && fs.statSync(path.join(ROOT, dep)).isDirectory()) dep = path.join(dep, 'index');
        deps.push(dep);
      }
      graph.set(id, deps);
    }
  }
  return graph;
}

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
