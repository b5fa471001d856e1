import * as fs from 'fs';
import * as path from 'path';
import type { Command } from '../command';
import { EXIT, UsageError } from '../../contract/errors';
import { writeFileAtomic } from '../../contract/run-folder';
import { initBackend } from '../../backend/select';
import { loadModel } from '../../models/io';
import { exportOnnx } from '../../backend/onnx/export';
import { LayersModelLike, UnsupportedModelError } from '../../backend/onnx/compile';

/**
 * Refuses an output folder that cannot be created or written, before any
 * work: the nearest existing ancestor must be a folder in which a probe
 * folder can be made (and is removed at once), so permissions, read-only
 * mounts and pseudo file systems such as /proc are all caught; the folder
 * itself, when it exists, must be a folder.
 */
export function checkWritableFolder(dir: string, flag: string): void {
  let p = path.resolve(dir);
  while (!fs.existsSync(p)) p = path.dirname(p);
  if (!fs.statSync(p).isDirectory()) {
    throw new UsageError(`${flag} ${dir}: ${p === path.resolve(dir) ? 'is a file' : `${p} is a file`}, not a folder; allowed: a writable folder (created if missing)`);
  }
  try {
    fs.rmdirSync(fs.mkdtempSync(path.join(p, '.vicinal-probe-')));
  } catch (e) {
    throw new UsageError(`${flag} ${dir}: ${p} is not writable (${(e as NodeJS.ErrnoException).code ?? (e as Error).message}); allowed: a writable folder (created if missing)`);
  }
}

export const command: Command = {
  spec: {
    name: 'export',
    summary: 'write a saved model as a standard .onnx file (forward graph, weights as initializers; input x in TF.js layout [batch, h, w, c], output logits)',
    usage: 'vicinal export --onnx DIR MODEL   (MODEL: a saved model folder or its model.json; writes DIR/model.onnx)',
    flags: {
      onnx: { kind: 'string', help: 'folder to write model.onnx into (created if missing)' },
    },
  },
  async main(flags, positional) {
    if (flags.onnx === undefined) throw new UsageError('export needs --onnx DIR');
    if (positional.length !== 1) throw new UsageError(`export takes one saved model (folder or model.json), got ${positional.length}`);
    const source = positional[0];
    const dir = String(flags.onnx);
    checkWritableFolder(dir, '--onnx');
    // The weights are only read back, so the plain cpu backend serves (and prints no banner).
    await initBackend('cpu');
    let model: Awaited<ReturnType<typeof loadModel>>['model'];
    try {
      ({ model } = await loadModel(source));
    } catch (e) {
      throw new UsageError(`cannot load model from ${source}: ${(e as Error).message.split('\n')[0]}`);
    }
    let bytes: Uint8Array;
    try {
      bytes = exportOnnx(model as unknown as LayersModelLike, `exported by vicinal from ${path.resolve(source)}`);
    } catch (e) {
      if (e instanceof UnsupportedModelError) throw new UsageError(`cannot export ${source}: ${e.message.replace(/^onnx engine: /, '')}`);
      throw e;
    } finally {
      model.dispose();
    }
    const out = path.join(dir, 'model.onnx');
    try {
      writeFileAtomic(out, Buffer.from(bytes));
    } catch (e) {
      throw new UsageError(`cannot write ${out}: ${(e as Error).message.split('\n')[0]}`);
    }
    console.log(`wrote ${out} (${bytes.length} bytes; input x [batch, ${(model.inputs[0].shape as number[]).slice(1).join(', ')}], output logits)`);
    return EXIT.ok;
  },
};
