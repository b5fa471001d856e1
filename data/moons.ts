import { Rng } from './rng';
import { LabelledSet } from './types';

/**
 * Two interleaving half circles (the scikit-learn "two moons" layout):
 * class 0 on (cos t, sin t), class 1 on (1 - cos t, 0.5 - sin t), t ~ U[0, pi],
 * plus isotropic Gaussian noise of std `noise`. Classes alternate so any
 * prefix is balanced.
 */
export function makeMoons(n: number, noise: number, rng: Rng): LabelledSet {
  const x = new Float32Array(n * 2);
  const y = new Int32Array(n);
  for (let i = 0; i < n; i++) {
    const label = i % 2;
    const t = rng.uniform() * Math.PI;
    const px = label === 0 ? Math.cos(t) : 1 - Math.cos(t);
    const py = label === 0 ? Math.sin(t) : 0.5 - Math.sin(t);
    x[2 * i] = px + noise * rng.normal();
    x[2 * i + 1] = py + noise * rng.normal();
    y[i] = label;
  }
  return { x, y, n };
}

/**
 * Two concentric circles: class 0 on radius 1, class 1 on radius `factor`,
 * angle ~ U[0, 2 pi), plus Gaussian noise of std `noise`.
 */
export function makeCircles(n: number, noise: number, factor: number, rng: Rng): LabelledSet {
  const x = new Float32Array(n * 2);
  const y = new Int32Array(n);
  for (let i = 0; i < n; i++) {
    const label = i % 2;
    const r = label === 0 ? 1 : factor;
    const t = rng.uniform() * 2 * Math.PI;
    x[2 * i] = r * Math.cos(t) + noise * rng.normal();
    x[2 * i + 1] = r * Math.sin(t) + noise * rng.normal();
    y[i] = label;
  }
  return { x, y, n };
}
