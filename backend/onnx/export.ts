/**
 * `vicinal export --onnx DIR`: the engine's forward graph with the weights
 * baked in as initializers, as a standard .onnx file (ONNX IR 8, opset 17)
 * that any ONNX runtime loads. Input "x" is the TF.js layout [batch, h, w, c]
 * (or [batch, d]); output "logits" is [batch, classes].
 */
import { compileModel, LayersModelLike } from './compile';

export function exportOnnx(model: LayersModelLike, docString = ''): Uint8Array {
  const c = compileModel(model);
  const g = c.forward();
  for (const w of c.weights) {
    const v = model.layers[w.layerIndex].weights[w.weightIndex].read();
    g.bake(w.name, Float32Array.from(v.dataSync() as Float32Array), w.shape);
  }
  return g.encode(docString);
}
