import { Norm } from '../contract/norms';
import { BaseAttack } from './base';
import { AttackLoss } from './losses';
import { Attack, AttackDescriptor, attackCost, LOSS_RULE, lossParam, marginCounterpart } from './types';

/** A one-gradient attack (fgsm, fgm): its settings are one step and the loss whose gradient gives it. */
export abstract class SingleStepAttack extends BaseAttack {
  readonly settings: Readonly<{ steps: 1; loss: AttackLoss }>;

  /** `loss`: the loss whose gradient gives the step (default cross-entropy, as published). */
  constructor(loss: AttackLoss = 'ce') {
    super();
    this.settings = { steps: 1, loss };
  }
}

/** The registry entry of a single-step attack at one norm, made by `make` from its loss. */
export function singleStepDescriptor(name: string, summary: string, norm: Norm, make: (loss: AttackLoss) => Attack): AttackDescriptor {
  return {
    name,
    summary,
    family: 'single-step',
    norms: [norm],
    params: { loss: LOSS_RULE },
    // `loss` defaults to "ce" without appearing in the resolved parameters (so configs resolve as before); the settings record it.
    defaults: () => ({}),
    cost: () => attackCost(1, 1),
    loss: (p) => lossParam(p, 'ce'),
    scaleInvariant: (p) => lossParam(p, 'ce') !== 'ce',
    argmaxOnly: false,
    invariantCounterpart: marginCounterpart(name, 'ce'),
    make: (_norm, p) => make(lossParam(p, 'ce')),
  };
}
