/**
 * Self time of a V8 CPU profile (`node --cpu-prof`) grouped by where it is
 * spent: onnxruntime (the engine's network), tfjs's wasm kernels, tfjs's
 * JavaScript (engine, tape, op wrappers), vicinal's own code by folder, the
 * garbage collector, idle. Shares, not seconds, so that runs on a loaded
 * machine compare. With --functions N it also lists the N functions with
 * the most self time, and with --components the time of an attack step by
 * component: each sample goes to the innermost frame on its stack that
 * names one (the network's ORT run, the loss and tape around it, the sign
 * step, the projection, APGD's row selections, ...), so the components add
 * up to the busy time.
 *
 *   node dist/bench/cpu-profile-groups.js PROFILE.cpuprofile [--functions 15] [--components]
 */
import * as fs from 'fs';

interface ProfileNode {
  id: number;
  callFrame: { functionName: string; url: string };
  children?: number[];
}

interface CpuProfile {
  nodes: ProfileNode[];
  samples: number[];
  timeDeltas: number[];
}

/** The group a profile node's self time belongs to. */
export function groupOf(frame: { functionName: string; url: string }): string {
  const { url, functionName: fn } = frame;
  if (fn === '(garbage collector)') return 'garbage collector';
  if (fn === '(idle)') return 'idle';
  if (fn === '(program)') return 'program (native, unattributed)';
  if (url.startsWith('wasm://')) return 'tfjs wasm kernels';
  if (url.includes('onnxruntime')) return 'onnxruntime (engine network)';
  if (url.includes('tfjs-backend-wasm')) return 'tfjs wasm backend (JS side)';
  if (url.includes('tfjs-core') || url.includes('tfjs-layers') || url.includes('@tensorflow')) return 'tfjs core (engine, tape, ops)';
  const m = /\/dist\/([a-z-]+)\//.exec(url);
  if (m) return m[1] === 'backend' && url.includes('/onnx/') ? 'vicinal backend/onnx (engine glue)' : `vicinal ${m[1]}/`;
  if (url === '') return `native: ${fn || '(anonymous)'}`;
  if (url.startsWith('node:')) return 'node internals';
  return 'other';
}

export function selfTimes(p: CpuProfile): { byNode: Map<number, number>; total: number } {
  const byNode = new Map<number, number>();
  let total = 0;
  p.samples.forEach((id, i) => {
    const dt = p.timeDeltas[i] ?? 0;
    byNode.set(id, (byNode.get(id) ?? 0) + dt);
    total += dt;
  });
  return { byNode, total };
}

/** Attack-step components, innermost first wins: [label, function name, file part of its url]. */
const COMPONENTS: [string, string, string][] = [
  ['network: ORT run (forward+save, backward)', 'run', 'backend/onnx/runtime'],
  ['network: engine glue (read x, wrap outputs, weight feeds)', '*', 'backend/onnx/engine'],
  ['early-stop read-back', 'allSucceeded', 'attacks/base'],
  ['sign of the gradient', 'steepestDirection', 'attacks/types'],
  ['projection (ball, bounds)', 'project', 'attacks/types'],
  ['row selection (APGD bests)', 'selectRows', 'attacks/types'],
  ['random start', 'randomInBall', 'attacks/types'],
  ['loss, its gradient and the tape (tfjs)', 'logitsObjectiveAndGradient', 'attacks/gradients'],
  ['loss, its gradient and the tape (tfjs)', 'lossInputGradient', 'attacks/gradients'],
  ['APGD step bookkeeping (where, compare, momentum, state)', 'apgdRun', 'attacks/apgd'],
  ['PGD step (add, mul)', 'pgdPerturb', 'attacks/pgd'],
  ['attack wrapper (validate, final scoring, ball check)', 'run', 'attacks/base'],
  ['eval bookkeeping', '*', 'eval/'],
];

function componentOf(frame: { functionName: string; url: string }): string | null {
  for (const [label, fn, file] of COMPONENTS) if (frame.url.includes(`/dist/${file}`) && (fn === '*' || frame.functionName === fn)) return label;
  return null;
}

function components(p: CpuProfile, busy: number): void {
  const parent = new Map<number, number>();
  for (const n of p.nodes) for (const c of n.children ?? []) parent.set(c, n.id);
  const nodes = new Map(p.nodes.map((n) => [n.id, n]));
  const { byNode } = selfTimes(p);
  const out = new Map<string, number>();
  for (const [id, t] of byNode) {
    const leaf = nodes.get(id) as ProfileNode;
    let label: string | null = leaf.callFrame.functionName === '(garbage collector)' ? 'garbage collector' : leaf.callFrame.functionName === '(idle)' ? 'idle' : null;
    for (let cur: number | undefined = id; label === null && cur !== undefined; cur = parent.get(cur)) label = componentOf((nodes.get(cur) as ProfileNode).callFrame);
    // the inspector's own dispatch (Profiler.stop writing the profile) is not the program's time
    const key = label ?? (leaf.callFrame.functionName === 'dispatch' && leaf.callFrame.url === '' ? 'profiler' : 'other');
    if (key !== 'idle') out.set(key, (out.get(key) ?? 0) + t);
  }
  const measured = busy - (out.get('profiler') ?? 0);
  out.delete('profiler');
  console.log(`components (innermost named frame on the stack, share of busy less the profiler's own ${((busy - measured) / 1e6).toFixed(2)} s):`);
  for (const [k, t] of [...out].sort((a, b) => b[1] - a[1])) console.log(`${((100 * t) / measured).toFixed(1).padStart(6)}%  ${k}`);
}

function main(argv: string[]): void {
  const file = argv[0];
  if (!file) throw new Error('usage: cpu-profile-groups PROFILE.cpuprofile [--functions N]');
  const i = argv.indexOf('--functions');
  const nFunctions = i >= 0 ? Number(argv[i + 1]) : 0;
  const p = JSON.parse(fs.readFileSync(file, 'utf8')) as CpuProfile;
  const nodes = new Map(p.nodes.map((n) => [n.id, n]));
  const { byNode, total } = selfTimes(p);
  const groups = new Map<string, number>();
  const functions = new Map<string, number>();
  for (const [id, t] of byNode) {
    const n = nodes.get(id) as ProfileNode;
    const g = groupOf(n.callFrame);
    groups.set(g, (groups.get(g) ?? 0) + t);
    const name = `${n.callFrame.functionName || '(anonymous)'} ${n.callFrame.url.replace(/^.*node_modules\//, '').replace(/^.*\/dist\//, 'dist/')}`;
    functions.set(name, (functions.get(name) ?? 0) + t);
  }
  const busy = total - (groups.get('idle') ?? 0);
  console.log(`${file}: ${(total / 1e6).toFixed(2)} s sampled, ${(busy / 1e6).toFixed(2)} s busy`);
  for (const [g, t] of [...groups].sort((a, b) => b[1] - a[1])) console.log(`${((100 * t) / busy).toFixed(1).padStart(6)}%  ${g}`);
  if (argv.includes('--components')) components(p, busy);
  if (nFunctions > 0) {
    console.log('top functions (self time, share of busy):');
    for (const [fn, t] of [...functions].sort((a, b) => b[1] - a[1]).slice(0, nFunctions)) console.log(`${((100 * t) / busy).toFixed(1).padStart(6)}%  ${fn}`);
  }
}

if (require.main === module) main(process.argv.slice(2));
