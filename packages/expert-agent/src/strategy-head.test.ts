import { promises as fs } from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import type { AgentState } from '@gopo/dialogue';
import { DEFAULT_STRATEGY_NAMES, llamaParamShapes, loadDefaultTokenizer } from '@gopo/lm';
import { describe, expect, it } from 'vitest';
import { ExpertAgent } from './expert-agent.js';

const state: AgentState = {
  sessionId: 's-1',
  domain: 'shop',
  turns: [{ role: 'user', text: 'Hi, where is my order?', events: [] }],
  sopState: 'start',
  admissible: DEFAULT_STRATEGY_NAMES.map(() => true),
  facts: [],
};

describe('the strategy head', () => {
  it('reads the decoder weights only, so a saved and reloaded agent decides the same', async () => {
    const tokenizer = await loadDefaultTokenizer();
    const agent = ExpertAgent.random(
      { hiddenSize: 16, layers: 1, heads: 2, kvHeads: 1, intermediateSize: 32, maxSeqLen: 256 },
      tokenizer,
      DEFAULT_STRATEGY_NAMES,
      5,
    );
    const options = { greedy: true, uniforms: [0.5] };
    const before = await agent.decide([state], options);
    // No parameter beyond the Llama's own (a second head would be initialised apart and not saved).
    expect([...agent.store.entries()].map(([n]) => n).sort()).toEqual(
      [...llamaParamShapes(agent.config).keys()].sort(),
    );
    const dir = await fs.mkdtemp(path.join(os.tmpdir(), 'expert-head-'));
    await agent.save(dir);
    const loaded = await ExpertAgent.load(dir);
    expect(await loaded.decide([state], options)).toEqual(before);
  });
});
