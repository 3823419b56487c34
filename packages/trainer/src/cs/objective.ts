import type { CsObjective, KtoConfig, PpoConfig, ReplyRlConfig } from '@gopo/cs-agent';
import { match } from 'ts-pattern';

/** The CS training modes: per-turn RL, KTO, step-reward PPO. */
export type CsTrainMode = 'rl' | 'kto' | 'ppo';

/** The updater objective of a CS training mode. */
export function csObjective(
  mode: CsTrainMode,
  c: { readonly rl: ReplyRlConfig; readonly kto: KtoConfig; readonly ppo: PpoConfig },
): CsObjective {
  return match(mode)
    .with('rl', () => ({ kind: 'rl', rl: c.rl }) as const)
    .with('kto', () => ({ kind: 'kto', kto: c.kto }) as const)
    .with('ppo', () => ({ kind: 'ppo', ppo: c.ppo }) as const)
    .exhaustive();
}
