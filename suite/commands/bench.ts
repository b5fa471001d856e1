import * as os from 'os';
import * as path from 'path';
import { formatBench, runBench } from '../../bench/run';
import { formatImportedResnet } from '../../bench/imported-resnet';
import { ATTACK_OVERHEAD_DEFAULTS, ATTACK_OVERHEAD_TASKS, formatAttackOverhead } from '../../bench/attack-overhead';
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
      attacks: {
        kind: 'strings',
        help: `attack-overhead tasks (each attack as the eval jobs run it, its counted passes and its overhead ratio over them, onnx engine): ${Object.keys(ATTACK_OVERHEAD_TASKS).join(',')}; none skips them`,
        default: ATTACK_OVERHEAD_DEFAULTS.attacks,
      },
      'attack-rounds': { kind: 'number', help: 'interleaved rounds of the attack-overhead tasks (figures are medians)', default: ATTACK_OVERHEAD_DEFAULTS.rounds },
      'attack-eps': { kind: 'number', help: 'linf radius of the attack-overhead tasks', default: ATTACK_OVERHEAD_DEFAULTS.eps },
      'attack-train-steps': { kind: 'number', help: 'Adam steps on MNIST before the attack-overhead tasks', default: ATTACK_OVERHEAD_DEFAULTS.trainSteps },
      'attack-profile': { kind: 'string', help: 'write a V8 CPU profile of the timed attack runs to this file (-<model>-b<batch> added for several); read it with dist/bench/cpu-profile-groups.js' },
      'attacks-only': { kind: 'boolean', help: 'run the attack-overhead tasks only (no throughput figures, matMul ceiling, leak check or ResNet-20)' },
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
    const attacks = (flags.attacks as string[]).filter((a) => a !== 'none');
    for (const a of attacks) if (!ATTACK_OVERHEAD_TASKS[a]) throw new UsageError(`unknown attack-overhead task "${a}"; allowed: ${Object.keys(ATTACK_OVERHEAD_TASKS).join(', ')}, none`);
    const attackRounds = Number(flags['attack-rounds']);
    if (!Number.isInteger(attackRounds) || attackRounds < 1) throw new UsageError(`--attack-rounds must be an integer >= 1, got ${flags['attack-rounds']}`);
    const attackEps = Number(flags['attack-eps']);
    if (!(attackEps >= 0 && Number.isFinite(attackEps))) throw new UsageError(`--attack-eps must be a finite number >= 0, got ${flags['attack-eps']}`);
    const trainSteps = Number(flags['attack-train-steps']);
    if (!Number.isInteger(trainSteps) || trainSteps < 0) throw new UsageError(`--attack-train-steps must be an integer >= 0, got ${flags['attack-train-steps']}`);
    const attacksOnly = Boolean(flags['attacks-only']);
    if (attacksOnly && attacks.length === 0) throw new UsageError('--attacks-only needs at least one attack in --attacks');
    for (const b of batches) if (attacks.length && b > 10000) throw new UsageError(`--batches: the attack-overhead tasks take at most 10000 MNIST test digits per batch, got ${b}`);
    const out = flags.out !== undefined ? String(flags.out) : path.join('runs', 'bench', `bench-${new Date().toISOString().replace(/[:.]/g, '-')}.json`);
    const r = await runBench({
      backend,
      models: models as ('mlp' | 'cnn' | 'resnet20')[],
      batches,
      maxTime,
      e2e: Boolean(flags.e2e),
      out,
      importedResnet: !attacksOnly && rounds > 0 && { rounds, reps },
      attackOverhead: attacks.length > 0 && {
        attacks,
        rounds: attackRounds,
        eps: attackEps,
        trainSteps,
        ...(flags['attack-profile'] !== undefined ? { profile: String(flags['attack-profile']) } : {}),
      },
      throughput: !attacksOnly,
    });
    console.log(`backend ${r.backend.name} (tfjs ${r.backend.tfjsVersion}), ${os.cpus()[0]?.model}, node ${process.version}`);
    if (r.figures.length) console.log(formatBench(r.figures));
    if (r.attackOverhead.length) console.log(formatAttackOverhead(r.attackOverhead));
    if (r.ceiling.length) console.log(`matMul ceiling: ${r.ceiling.map((c) => `${c.shape} ${c.gflops.toFixed(1)} GFLOP/s`).join('; ')}`);
    for (const e of r.e2e) console.log(`quick profile with ${e.workers} worker(s): ${e.seconds.toFixed(1)} s, peak RSS ${e.peakRssMB} MB`);
    if (r.importedResnet) console.log(formatImportedResnet(r.importedResnet));
    console.log(`saved ${out}`);
    return EXIT.ok;
  },
};
