import * as os from 'os';
import * as path from 'path';
import { formatBench, runBench } from '../../bench/run';
import { formatImportedResnet } from '../../bench/imported-resnet';
import type { Command } from '../command';
import { EXIT, UsageError } from '../../contract/errors';
import { backendFlagSpec, parseBackendFlag } from '../backend-flag';

export const command: Command = {
  spec: {
    name: 'bench',
    summary: 'throughput of training steps, input gradients, FGSM and PGD: vicinal vs a naive baseline, side by side',
    usage: 'vicinal bench [options]',
    flags: {
      backend: backendFlagSpec(),
      models: { kind: 'strings', help: "models to measure: mlp,cnn; resnet20 (the engine's ResNet-20 training step only)", default: ['mlp', 'cnn'] },
      batches: { kind: 'numbers', help: 'batch sizes', default: [128, 512] },
      'max-time': { kind: 'number', help: 'seconds of sampling per figure (benchmark.js maxTime)', default: 2 },
      'resnet-rounds': { kind: 'number', help: 'engine/PyTorch alternations on the exported ResNet-20 (bench/models/resnet20.onnx, batch 128); 0 skips', default: 3 },
      'resnet-reps': { kind: 'number', help: 'timed repetitions per ResNet-20 figure and round', default: 5 },
      e2e: { kind: 'boolean', help: 'also time the quick profile end to end with 1 and 2 workers (minutes)' },
      out: { kind: 'string', help: 'JSON file for the figures (default runs/bench/bench-<time>.json)' },
    },
  },
  async main(flags) {
    const backend = parseBackendFlag(flags.backend);
    const models = flags.models as string[];
    for (const m of models) if (m !== 'mlp' && m !== 'cnn' && m !== 'resnet20') throw new UsageError(`unknown bench model "${m}"; allowed: mlp, cnn, resnet20`);
    const batches = flags.batches as number[];
    for (const b of batches) if (!Number.isInteger(b) || b < 1) throw new UsageError(`--batches must be integers >= 1, got ${b}`);
    const maxTime = Number(flags['max-time']);
    if (!(maxTime > 0)) throw new UsageError(`--max-time must be > 0, got ${maxTime}`);
    const rounds = Number(flags['resnet-rounds']);
    const reps = Number(flags['resnet-reps']);
    if (!Number.isInteger(rounds) || rounds < 0) throw new UsageError(`--resnet-rounds must be an integer >= 0, got ${flags['resnet-rounds']}`);
    if (!Number.isInteger(reps) || reps < 1) throw new UsageError(`--resnet-reps must be an integer >= 1, got ${flags['resnet-reps']}`);
    const out = flags.out !== undefined ? String(flags.out) : path.join('runs', 'bench', `bench-${new Date().toISOString().replace(/[:.]/g, '-')}.json`);
    const r = await runBench({ backend, models: models as ('mlp' | 'cnn' | 'resnet20')[], batches, maxTime, e2e: Boolean(flags.e2e), out, importedResnet: rounds > 0 && { rounds, reps } });
    console.log(`backend ${r.backend.name} (tfjs ${r.backend.tfjsVersion}), ${os.cpus()[0]?.model}, node ${process.version}`);
    console.log(formatBench(r.figures));
    console.log(`matMul ceiling: ${r.ceiling.map((c) => `${c.shape} ${c.gflops.toFixed(1)} GFLOP/s`).join('; ')}`);
    for (const e of r.e2e) console.log(`quick profile with ${e.workers} worker(s): ${e.seconds.toFixed(1)} s, peak RSS ${e.peakRssMB} MB`);
    if (r.importedResnet) console.log(formatImportedResnet(r.importedResnet));
    console.log(`saved ${out}`);
    return EXIT.ok;
  },
};
