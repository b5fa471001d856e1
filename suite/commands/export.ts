import * as fs from 'fs';
import * as path from 'path';
import type { Command } from '../command';
import { EXIT, UsageError } from '../../contract/errors';
import { loadModel } from '../../models/io';
import { exportOnnx } from '../../backend/onnx/export';
import type { LayersModelLike } from '../../backend/onnx/compile';

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
    const { model } = await loadModel(positional[0]);
    const bytes = exportOnnx(model as unknown as LayersModelLike, `exported by vicinal from ${path.resolve(positional[0])}`);
    const dir = String(flags.onnx);
    fs.mkdirSync(dir, { recursive: true });
    const out = path.join(dir, 'model.onnx');
    fs.writeFileSync(out, bytes);
    model.dispose();
    console.log(`wrote ${out} (${bytes.length} bytes; input x [batch, ${(model.inputs[0].shape as number[]).slice(1).join(', ')}], output logits)`);
    return EXIT.ok;
  },
};
