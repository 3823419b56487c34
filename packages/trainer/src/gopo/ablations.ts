/**
 * The GOPO ablations of DESIGN.md 4.6 as `--set` override lists over a `gopo train` config (the syntax
 * loadConfig and resolveCommandConfig accept), so an ablation run is the base run's config plus one
 * list: `gopo train --config base.yaml --set policy.sopMasking=false`. Each list changes one thing and
 * leaves every other setting as the base config has it. ("Without the Expert Agent" is a baseline of
 * its own, not a switch of this trainer.)
 */

/** One ablation: what it removes, and the overrides that remove it. */
export interface GopoAblation {
  readonly description: string;
  /** `key.path=value` overrides, applied in order. */
  readonly overrides: readonly string[];
}

export const GOPO_ABLATIONS = {
  'no-sop-mask': {
    description:
      'without SOP masking: the Expert Agent decides, ranks and is trained and evaluated over every strategy; inadmissible choices are played and cost what env.sopEnforcement says',
    overrides: ['policy.sopMasking=false'],
  },
  'no-esndcg': {
    description:
      'without ESNDCG: the sequence reward is l_tse TSE + l_gre R_goal (l_es = 0); ESNDCG is still reported',
    overrides: ['metrics.objective.esndcg=0'],
  },
  'token-preference': {
    description:
      'token-level instead of trajectory-level preference: each pair compares its aligned decisions, one sigmoid per position (pairwise mode; token terms are already per-position means, so length normalisation is off)',
    overrides: ['loss.preference=token', 'loss.lengthNormalize=false'],
  },
} as const satisfies Record<string, GopoAblation>;

export type GopoAblationName = keyof typeof GOPO_ABLATIONS;
