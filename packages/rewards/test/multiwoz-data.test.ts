import * as path from 'node:path';
import { resolveDataDir } from '@gopo/core';
import { describe, expect, it } from 'vitest';
import { informOf, loadMultiwoz, loadMultiwozDatabase, multiwozScores, successOf } from '../src/index.js';

const dataDir = resolveDataDir();

describe.skipIf(!dataDir)('MultiWOZ val.json loader (data/multiwoz, data/toolwoz/db)', () => {
  it('prepares goals and outcomes; the reference dialogues score as pinned', async () => {
    const db = await loadMultiwozDatabase(path.join(dataDir!, 'toolwoz', 'db'));
    const refs = await loadMultiwoz(path.join(dataDir!, 'multiwoz', 'val.json'), db);
    expect(refs.length).toBe(999);
    // PMUL1635 (checked by hand): a 4-star guesthouse in the east with parking and wifi, booked
    // (warkworth house, from the belief state), and train TR1567 cambridge -> bishops stortford on
    // friday arriving 18:07 <= 19:45; the system gave duration, leave time, price and both references.
    const p = refs.find((r) => r.id === 'PMUL1635')!;
    expect(p.dialogue.goal.hotel).toEqual({
      info: { area: 'east', parking: 'yes', stars: '4', internet: 'yes' },
      reqt: ['reference'],
    });
    expect(p.dialogue.outcome.hotel?.offered?.name).toBe('warkworth house');
    expect(p.dialogue.outcome.train?.offered?.trainID).toBe('TR1567');
    expect(p.dialogue.outcome.train?.provided).toEqual(
      expect.arrayContaining(['duration', 'leaveAt', 'price', 'reference']),
    );
    expect(informOf(p.dialogue)).toBe(true);
    expect(successOf(p.dialogue)).toBe(true);
    expect(p.systemTurns.length).toBe(9);
    // Corpus figures of the logged system turns under this definition (a regression pin, not a
    // published number: the standard evaluator matches entities through the belief state instead).
    const s = multiwozScores(
      refs.map((r) => r.dialogue),
      [],
      [],
    );
    expect(Math.round((s.inform * 999) / 100)).toBe(762);
    expect(Math.round((s.success * 999) / 100)).toBe(674);
  });
});
