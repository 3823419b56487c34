// Measures the Expert Agent's state block (decisionStateText: SOP state + shopFacts, as one system
// message in the chat template) in tokens of @gopo/lm's shipped tokenizer, over simulated dialogues
// of every scripted shop strategy policy. Usage (from packages/cs-agent):
//   node --conditions=@gopo/source --import tsx scripts/state-block-tokens.ts [scenarios=200] [seed=1]
import { decisionStateText } from '@gopo/dialogue';
import { collectTemplateTurns, shopStrategyPolicies } from '@gopo/envs';
import { ChatTemplate, loadDefaultTokenizer } from '@gopo/lm';

const scenarios = Number(process.argv[2] ?? 200);
const seed = Number(process.argv[3] ?? 1);
const template = new ChatTemplate(await loadDefaultTokenizer());
const quantile = (xs: number[], q: number) => xs[Math.min(xs.length - 1, Math.floor(q * xs.length))]!;
const all: number[] = [];
const rows: Record<string, unknown>[] = [];
for (const name of shopStrategyPolicies.names()) {
  const turns = await collectTemplateTurns({ policy: shopStrategyPolicies.get(name), scenarios, seed });
  const counts = turns
    .map(
      (t) => template.messageIds({ role: 'system', content: decisionStateText(t.sopState, t.facts) }).length,
    )
    .sort((a, b) => a - b);
  all.push(...counts);
  const mean = counts.reduce((s, x) => s + x, 0) / counts.length;
  rows.push({
    policy: name,
    states: counts.length,
    mean: +mean.toFixed(1),
    p50: quantile(counts, 0.5),
    p95: quantile(counts, 0.95),
    max: counts.at(-1),
  });
}
all.sort((a, b) => a - b);
const mean = all.reduce((s, x) => s + x, 0) / all.length;
rows.push({
  policy: 'all',
  states: all.length,
  mean: +mean.toFixed(1),
  p50: quantile(all, 0.5),
  p95: quantile(all, 0.95),
  max: all.at(-1),
});
console.table(rows);
