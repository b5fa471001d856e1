import { spawnSync } from 'child_process';
import * as fs from 'fs';
import * as os from 'os';
import * as path from 'path';
import { parseModel } from '../../backend/onnx/graph';
import { needsSystemPackage, REPO_ROOT } from '../system-deps';
import { FIXTURES, NAMES, readFixture } from './pytorch-fixtures';

/**
 * The committed PyTorch fixtures are what scripts/make-onnx-fixtures.py
 * writes: regenerated into a temporary folder, every model has the same ops
 * and the same inputs and labels, and logits and gradients agree within
 * 1e-6 (the same torch gives the same bits; another build may round
 * differently). Needs Debian python3-torch.
 */
const torch = needsSystemPackage('python3-torch', __filename);

const maxRel = (a: number[], b: number[]) => {
  let e = 0;
  let m = 0;
  b.forEach((v, i) => {
    e = Math.max(e, Math.abs(a[i] - v));
    m = Math.max(m, Math.abs(v));
  });
  return e / m;
};

torch.serial('scripts/make-onnx-fixtures.py regenerates the committed fixtures', (t) => {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'vicinal-torch-fixtures-'));
  try {
    const r = spawnSync('/usr/bin/python3', [path.join(REPO_ROOT, 'scripts', 'make-onnx-fixtures.py'), dir], { encoding: 'utf8' });
    t.is(r.status, 0, r.stderr);
    for (const name of NAMES) {
      const ops = (d: string) => parseModel(fs.readFileSync(path.join(d, `${name}.onnx`))).nodes.map((n) => n.opType);
      t.deepEqual(ops(dir), ops(FIXTURES), `${name}: ops`);
      const a = readFixture(name, dir);
      const b = readFixture(name);
      t.deepEqual(a.x, b.x, `${name}: inputs`);
      t.deepEqual(a.labels, b.labels, `${name}: labels`);
      t.true(maxRel(a.logits, b.logits) <= 1e-6, `${name}: logits`);
      t.true(maxRel(a.gradient, b.gradient) <= 1e-6, `${name}: gradient`);
      t.deepEqual(a.fgsm, b.fgsm, `${name}: FGSM`);
    }
  } finally {
    fs.rmSync(dir, { recursive: true, force: true });
  }
});
