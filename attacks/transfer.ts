import * as tf from '@tensorflow/tfjs';
import { Classifier } from '../contract/classifier';
import { transferAttackName } from '../contract/keys';
import { AttackContext, BaseAttack } from './base';
import { Attack } from './types';
import { Norm } from '../contract/norms';

/**
 * Transfer (black-box) attack: adversarial examples are crafted with
 * `attack` on the source model and evaluated on the attacked model (the `f`
 * of `run`). Success, loss and predictions refer to the attacked model.
 * Named "transfer:<sourceName>".
 */
export class TransferAttack extends BaseAttack {
  readonly name: string;
  readonly norm: Norm;
  readonly settings: Readonly<Record<string, unknown>>;

  constructor(
    readonly sourceName: string,
    private readonly source: Classifier,
    private readonly attack: Attack,
  ) {
    super();
    this.name = transferAttackName(sourceName);
    this.norm = attack.norm;
    this.settings = { source: sourceName, attack: attack.name, ...attack.settings };
  }

  protected perturb(ctx: AttackContext): tf.Tensor {
    const targets = ctx.targetClasses ? (ctx.targetClasses.dataSync() as Int32Array) : undefined;
    const out = this.attack.run(this.source, ctx.x, ctx.y, ctx.bounds, ctx.eps, ctx.rng, targets ? { targets } : {});
    return out.xAdv;
  }
}
