import test from 'ava';
import * as os from 'os';
import * as path from 'path';
import { requireSystemFile } from '../../data/system-file';

test('requireSystemFile: returns a present file, else names the dataset, the package and the install command', (t) => {
  t.is(requireSystemFile('any', os.tmpdir(), 'coreutils'), os.tmpdir());
  const missing = path.join(os.tmpdir(), 'vicinal-no-such-dataset', 'train.idx');
  const e = t.throws(() => requireSystemFile('fashion-mnist', missing, 'dataset-fashion-mnist'));
  t.is(e?.message, `dataset "fashion-mnist" needs the Debian package dataset-fashion-mnist (${missing} not found): sudo apt-get install -y dataset-fashion-mnist`);
});
