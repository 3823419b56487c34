import { promises as fs } from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { describe, expect, it } from 'vitest';
import { EVENT_TYPES } from './log-schema.js';
import { loadStrategySet, parseStrategySet, SHOP_STRATEGY_SET, strategyIndex } from './strategies.js';
import { StrictEventSchema } from './strict-events.js';

describe('strategy sets', () => {
  it('indexes the default shop set in order', () => {
    const idx = strategyIndex(SHOP_STRATEGY_SET);
    expect(idx.get('greet')).toBe(0);
    expect(idx.get('close')).toBe(12);
  });

  it('loads a user-defined set from YAML and rejects duplicates with their line', async () => {
    const dir = await fs.mkdtemp(path.join(os.tmpdir(), 'gopo-strat-'));
    const ok = path.join(dir, 'ok.yaml');
    await fs.writeFile(ok, 'name: hotel\nstrategies: [greet, book_room, close]\n');
    expect((await loadStrategySet(ok)).strategies).toEqual(['greet', 'book_room', 'close']);
    const bad = path.join(dir, 'bad.yaml');
    await fs.writeFile(bad, 'name: hotel\nstrategies:\n  - greet\n  - greet\n');
    await expect(loadStrategySet(bad)).rejects.toThrow(
      /bad\.yaml:4 at strategies\[1\]: duplicate strategy "greet"/,
    );
    expect(() => parseStrategySet({ name: 'x', strategies: ['Bad Name'] })).toThrow(/lower_snake_case/);
    await fs.rm(dir, { recursive: true, force: true });
  });
});

describe('StrictEventSchema', () => {
  it('has a variant for every event type', () => {
    for (const type of EVENT_TYPES) {
      const minimal = { type, item_id: 'p-1', order_id: 'o-1', amount: 1 };
      expect(StrictEventSchema.safeParse(minimal).success).toBe(true);
    }
    expect(StrictEventSchema.safeParse({ type: 'refund_issued' }).success).toBe(false);
  });
});
