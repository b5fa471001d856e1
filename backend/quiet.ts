import * as tf from '@tensorflow/tfjs';

/**
 * TensorFlow.js's cpu backend prints an advert for tfjs-node ("Hi, looks like
 * you are running TensorFlow.js in Node.js...") on its first tensor in Node.
 * vicinal uses cpu on purpose (the doctor's reference, the report's figures,
 * loading a model to export), so the banner would clutter every log. Marking
 * the backend as already used is the only switch that does not also turn off
 * tfjs's other warnings (the PROD and IS_TEST flags would).
 */
export function silenceTfjsAdvert(): void {
  const engine = tf.engine() as unknown as { registry: Record<string, unknown>; registryFactory: Record<string, { factory: () => unknown; quiet?: true } | undefined> };
  const entry = engine.registryFactory.cpu;
  // tfjs makes a fresh cpu backend whenever it picks its default backend, so
  // the mark goes on every instance the factory makes, and on the live one.
  if (entry && !entry.quiet) {
    const make = entry.factory;
    entry.factory = () => markUsed(make());
    entry.quiet = true;
  }
  markUsed(engine.registry.cpu);
}

function markUsed<T>(backend: T): T {
  if (typeof backend === 'object' && backend !== null && 'firstUse' in backend) (backend as { firstUse: boolean }).firstUse = false;
  return backend;
}

/** The advert's text, for tests that check it never reaches the output. */
export const TFJS_ADVERT = /looks like you are running TensorFlow\.js in Node\.js/;
